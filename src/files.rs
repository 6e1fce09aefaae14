//! Reading and writing whole files with errors that name the path.
//!
//! Every file this crate writes goes through [`write_all`]: outputs are written in full to
//! temporary files beside their targets and only then renamed over them, so a failure half-way
//! (a full disk, an unwritable second path, a killed process) never leaves a partial file, never
//! truncates a good one, and — for a command with several outputs — writes none of them.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

/// Reads a file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::io(path, e))
}

/// Writes one file atomically; see [`write_all`].
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_all(&[(path, bytes)])
}

/// Writes every `(path, bytes)` or, on error, none of them.
///
/// 1. Each output is written to a new temporary file in its target's folder (same file system,
///    so the rename below is atomic) and flushed to disk; an existing target's permissions are
///    kept.
/// 2. Only when all are written are they renamed over their targets, in order.
///
/// A failure in step 1 removes the temporary files and leaves every target as it was. Step 2
/// renames within a folder; its only expected failure (a target that is a folder) is checked
/// before anything is written.
///
/// # Errors
/// [`Error::Io`] naming the target that could not be written; [`Error::InvalidParameter`] when
/// two outputs name the same file.
pub fn write_all(files: &[(&Path, &[u8])]) -> Result<()> {
    for (i, (a, _)) in files.iter().enumerate() {
        if files[..i].iter().any(|(b, _)| same_target(a, b)) {
            return Err(Error::InvalidParameter {
                name: "output paths",
                expected: "a different file for each output",
                got: format!("{} twice", a.display()),
            });
        }
        if a.is_dir() {
            return Err(Error::io(
                *a,
                std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a folder, not a file"),
            ));
        }
    }
    let mut staged: Vec<Staged> = Vec::with_capacity(files.len());
    for &(path, bytes) in files {
        // On error, `staged` drops here and removes what was written so far.
        staged.push(Staged::write(path, bytes)?);
    }
    for s in &mut staged {
        s.commit()?;
    }
    Ok(())
}

fn same_target(a: &Path, b: &Path) -> bool {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    a == b || abs(a) == abs(b)
}

/// A temporary file holding one output's bytes, removed on drop unless renamed over its target.
struct Staged {
    target: PathBuf,
    temp: Option<PathBuf>,
}

impl Staged {
    fn write(target: &Path, bytes: &[u8]) -> Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let io = |e| Error::io(target, e);
        let name = target
            .file_name()
            .ok_or_else(|| io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "names no file")))?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let temp = dir.join(format!(
            ".{}.{}-{}.part",
            name.to_string_lossy(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(io)?;
        // From here on, dropping `staged` removes the temporary file.
        let staged = Staged {
            target: target.to_path_buf(),
            temp: Some(temp),
        };
        fill(file, bytes, target).map_err(io)?;
        Ok(staged)
    }

    fn commit(&mut self) -> Result<()> {
        let temp = self.temp.as_ref().expect("committed once");
        fs::rename(temp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.temp = None;
        Ok(())
    }
}

fn fill(mut file: File, bytes: &[u8], target: &Path) -> std::io::Result<()> {
    file.write_all(bytes)?;
    if let Ok(meta) = fs::metadata(target) {
        file.set_permissions(meta.permissions())?;
    }
    // Errors a full disk reports late (at write-back) surface here, before the rename.
    file.sync_all()
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = fs::remove_file(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_a_file_whole_and_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.bin");
        fs::write(&p, vec![7u8; 10_000]).unwrap();
        write(&p, b"short").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"short");
        assert_eq!(listing(d.path()), ["out.bin"]);
    }

    #[test]
    fn one_failing_output_writes_none_and_keeps_the_old_files() {
        let d = tempfile::tempdir().unwrap();
        let first = d.path().join("labels.npy");
        fs::write(&first, b"the good old labels").unwrap();
        let missing_dir = d.path().join("no-such-folder").join("tree.json");
        let err = write_all(&[(&first, b"new labels"), (&missing_dir, b"{}")]).unwrap_err();
        assert!(err.to_string().contains("no-such-folder"), "{err}");
        assert_eq!(fs::read(&first).unwrap(), b"the good old labels");
        assert_eq!(listing(d.path()), ["labels.npy"], "no temporary file is left");
    }

    #[test]
    fn a_folder_or_the_same_file_twice_is_refused_before_writing() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.png");
        let err = write_all(&[(&a, b"1"), (d.path(), b"2")]).unwrap_err();
        assert!(err.to_string().contains("is a folder"), "{err}");
        assert!(!a.exists());
        let again = d.path().join(".").join("a.png");
        let err = write_all(&[(&a, b"1"), (&again, b"2")]).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        assert!(!a.exists());
    }

    #[cfg(unix)]
    #[test]
    fn keeps_the_permissions_of_the_file_it_replaces() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("shared.json");
        fs::write(&p, b"{}").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        write(&p, b"[]").unwrap();
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o640);
    }
}

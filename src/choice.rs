//! Enums chosen by name at a boundary: the Python package's strings, reports, the CLI's values.
//! Each enum's names are listed once, in its [`Choice`] impl; the CLI's value names (clap derives
//! them from the variants) are checked against these in the tests below.

use crate::{Error, Result};

/// An enum a person picks by name (`mode="clean"`, `--refine none`).
pub trait Choice: Copy + PartialEq + Sized + 'static {
    /// The parameter it is the value of, for messages (`mode`, `device`).
    const PARAMETER: &'static str;
    /// Every value, in the order they are listed.
    const ALL: &'static [Self];

    /// The value's name.
    fn name(self) -> &'static str;

    /// The value called `text`.
    ///
    /// # Errors
    /// [`Error::UnknownChoice`] naming the parameter and every name it takes.
    fn parse(text: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.name() == text)
            .ok_or_else(|| Error::UnknownChoice {
                parameter: Self::PARAMETER,
                choices: Self::ALL
                    .iter()
                    .map(|v| format!("{:?}", v.name()))
                    .collect::<Vec<_>>()
                    .join(", "),
                got: text.to_string(),
            })
    }
}

impl Choice for crate::ncut::Mode {
    const PARAMETER: &'static str = "mode";
    const ALL: &'static [Self] = &[Self::Official, Self::Clean];
    fn name(self) -> &'static str {
        match self {
            Self::Official => "official",
            Self::Clean => "clean",
        }
    }
}

impl Choice for crate::ncut::Method {
    const PARAMETER: &'static str = "method";
    const ALL: &'static [Self] = &[Self::Recursive, Self::Autosc];
    fn name(self) -> &'static str {
        match self {
            Self::Recursive => "recursive",
            Self::Autosc => "autosc",
        }
    }
}

impl Choice for crate::segmenter::Device {
    const PARAMETER: &'static str = "device";
    const ALL: &'static [Self] = &[Self::Cpu, Self::Gpu];
    fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
        }
    }
}

impl Choice for crate::segmenter::Refine {
    const PARAMETER: &'static str = "refine";
    const ALL: &'static [Self] = &[Self::Demo, Self::Eval, Self::OpenVocab, Self::None];
    fn name(self) -> &'static str {
        crate::segmenter::Refine::name(self)
    }
}

impl Choice for crate::segmenter::FeatureKind {
    const PARAMETER: &'static str = "features";
    const ALL: &'static [Self] = &crate::segmenter::FeatureKind::ALL;
    fn name(self) -> &'static str {
        crate::segmenter::FeatureKind::name(self)
    }
}

impl Choice for crate::eval::datasets::DatasetKind {
    const PARAMETER: &'static str = "dataset";
    const ALL: &'static [Self] = &[
        Self::Voc,
        Self::Context,
        Self::CocoObject,
        Self::CocoStuff,
        Self::Cityscapes,
        Self::Ade20k,
    ];
    fn name(self) -> &'static str {
        crate::eval::datasets::DatasetKind::name(self)
    }
}

#[cfg(feature = "model")]
impl Choice for crate::model::clip::LabelSet {
    const PARAMETER: &'static str = "labels";
    const ALL: &'static [Self] = &[Self::Voc, Self::Context, Self::CocoObject, Self::Ade, Self::Cityscapes];
    fn name(self) -> &'static str {
        crate::model::clip::LabelSet::name(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::datasets::DatasetKind;
    use crate::ncut::{Method, Mode};
    use crate::segmenter::{Device, FeatureKind, Refine};

    fn round_trips<T: Choice + std::fmt::Debug>() {
        for &v in T::ALL {
            assert_eq!(T::parse(v.name()).unwrap(), v);
        }
        let e = T::parse("no-such-name").unwrap_err().to_string();
        assert!(e.starts_with(&format!("{} must be one of", T::PARAMETER)), "{e}");
        assert!(e.contains(&format!("{:?}", T::ALL[0].name())), "{e}");
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        round_trips::<Mode>();
        round_trips::<Device>();
        round_trips::<Refine>();
        round_trips::<FeatureKind>();
        round_trips::<DatasetKind>();
        round_trips::<Method>();
        assert_eq!(
            Mode::parse("exact").unwrap_err().to_string(),
            r#"mode must be one of "official", "clean", got "exact""#
        );
    }

    /// The CLI's value names are these names, and every variant is listed.
    #[cfg(feature = "cli")]
    #[test]
    fn the_cli_takes_the_same_names() {
        fn same<T: Choice + clap::ValueEnum + std::fmt::Debug>() {
            let clap_names: Vec<String> = T::value_variants()
                .iter()
                .map(|v| v.to_possible_value().unwrap().get_name().to_string())
                .collect();
            let ours: Vec<String> = T::ALL.iter().map(|v| v.name().to_string()).collect();
            assert_eq!(clap_names, ours);
        }
        same::<Mode>();
        same::<Device>();
        same::<Refine>();
        same::<FeatureKind>();
        same::<DatasetKind>();
        same::<Method>();
    }

    /// The tree JSON's names for the mode are these names.
    #[test]
    fn the_tree_json_takes_the_same_mode_names() {
        for &m in Mode::ALL {
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("{:?}", m.name()));
        }
    }
}

#!/usr/bin/env python3
"""Write the CLIP tokenizer's reference: tests/fixtures/clip/tokenizer/strings.json (hard strings,
every class name of models/labels/*.txt alone and in a prompt template, a seeded random sample) and
tokens.json (open_clip's ids of each, [n][77]). tests/clip_tokenizer.rs checks the Rust tokenizer
against them.

Run with the Python that has open_clip installed, from the repository root:

    python3 tests/reference/make_clip_tokens.py
"""

import json
import random
import unicodedata
from pathlib import Path

import ftfy
import open_clip

assert open_clip.__version__ == "3.3.0", open_clip.__version__
assert ftfy.__version__ == "6.3.1", ftfy.__version__

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "clip" / "tokenizer"

# The prompt templates of src/model/clip/labels.rs (DiffCut's 14).
TEMPLATES = [
    "a photo of a {}.",
    "This is a photo of a {}",
    "There is a {} in the scene",
    "There is the {} in the scene",
    "a photo of a {} in the scene",
    "a photo of a small {}.",
    "a photo of a medium {}.",
    "a photo of a large {}.",
    "This is a photo of a small {}.",
    "This is a photo of a medium {}.",
    "This is a photo of a large {}.",
    "There is a small {} in the scene.",
    "There is a medium {} in the scene.",
    "There is a large {} in the scene.",
]


def nfd(s):
    return unicodedata.normalize("NFD", s)


HARD = [
    # ASCII, punctuation, contractions, numbers.
    "a photo of a cat.",
    "A PHOTO OF A CAT",
    "dog",
    "Hello, World!",
    "it's they're we've I'm you'll he'd IT'S THEY'RE",
    "don't o'clock rock 'n' roll",
    "'s",
    "'",
    "''",
    "'''s",
    "x'S y'LL z'D",
    "'sam 'tis 'dog",
    "snake_case_name kebab-case-name CamelCaseWord",
    "e-mail@example.com",
    "https://example.com/path?q=1&r=2#frag",
    "C++ and C#",
    "3.14159",
    "1,000,000",
    "2024-01-01 12:30pm 100% $5.99",
    "#hashtag @mention",
    "a+b=c (parentheses) [brackets] {braces}",
    "...",
    "!!!???",
    "~`^|\\",
    '"double quotes"',
    "tab\tseparated",
    "new\nline",
    "carriage\rreturn",
    "crlf\r\nline",
    "multiple   spaces",
    "  leading and trailing  ",
    "",
    " ",
    "   \t\n  ",
    "\n",
    "a",
    "I",
    "0",
    "42",
    "000123",
    "supercalifragilisticexpialidocious",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "a" * 200,
    "ab" * 150,
    "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
    "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft",
    "word " * 100,
    "1234567890" * 10,
    "a photo of a " * 20 + "cat",
    "There is a large traffic light in the scene. " * 5,
    # The special tokens typed literally.
    "<start_of_text>",
    "<end_of_text>",
    "<|startoftext|>",
    "<|endoftext|>",
    "<START_OF_TEXT>",
    "a<start_of_text>b",
    "<end_of_text><end_of_text>",
    "<start_of_text",
    "<\u017ftart_of_text>",
    "<endoftext>",
    "<start_of_text> a photo of a cat <end_of_text>",
    # Accents, precomposed and decomposed.
    "café",
    nfd("café"),
    "naïve",
    "Ångström",
    nfd("Ångström"),
    "crème brûlée",
    nfd("crème brûlée"),
    "São Paulo",
    "Zürich",
    "Kraków",
    "Łódź",
    "Dvořák",
    "Ñandú",
    "Ærøskøbing",
    "façade",
    nfd("résumé"),
    "Tiếng Việt",
    nfd("Tiếng Việt"),
    "e\u0301\u0302\u0323",
    "q\u0307\u0323",
    "a\u0308\u0301",
    "\u212b \u212a \u2126",
    "\u1100\u1161\u11a8",
    "각",
    # Characters Python 3.11 (Unicode 14) does not know yet: no composition, no case mapping.
    "\U00011382\U000113c9 \U00016d63\U00016d67 \U00016d67\U00016d67",
    "\ua7cb\ua7cc \U00010d50\U00010d70",
    "\U0001fae8 \U0001e4ec \U00011f00",
    "a\U0001e08f\u0301",
    # Emoji.
    "😀",
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "🇫🇷🇩🇪🇯🇵",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "❤️",
    "1️⃣",
    "🐈 cat",
    "I ❤ NY",
    "☃",
    "👩🏻‍💻",
    # CJK.
    "猫",
    "一只猫的照片",
    "日本語のテキスト",
    "カタカナ",
    "ｶﾀｶﾅ",
    "ｶﾞｷﾞ ﾊﾟﾝ",
    "한국어 텍스트",
    "中文，标点。",
    "𠀀",
    "〇々",
    # Right to left, Indic, Thai, Cyrillic.
    "قطة",
    "مرحبا بالعالم",
    "كِتَابٌ",
    "٠١٢٣٤٥٦٧٨٩",
    "گربه",
    "חתול",
    "שָׁלוֹם",
    "बिल्ली",
    "नमस्ते दुनिया",
    "१२३",
    "แมว",
    "สวัสดีครับ",
    "Кошка",
    "ПРИВЕТ МИР",
    "ёлка Ё",
    # Greek: final sigma, upper case, iota subscript.
    "ΟΔΟΣ",
    "Οδυσσεύς",
    "ΣΊΣΥΦΟΣ",
    "σοφός",
    "ΑΣ'Α ΑΣ.",
    "Σ",
    "ΣΣ",
    "ΌΣΟΣ.",
    "ϐ ϑ ϕ ϖ",
    nfd("ΐ"),
    "ᾳ ᾼ",
    "\u0345",
    "a\u0345b",
    # Turkish, German.
    "İstanbul",
    "ISTANBUL",
    "ıi İI",
    "DİYARBAKIR",
    "Straße",
    "STRASSE",
    "ẞ",
    "GROẞ Maß",
    # Other scripts.
    "კატა ᲙᲐᲢᲐ",
    "կատու ԿԱՏՈՒ",
    "ᏣᎳᎩ ꮳꮃꭹ",
    "𐐀𐐨",
    "ድመት",
    "பூனை",
    "বিড়াল",
    "བོད",
    "ᠮᠣᠩᠭᠣᠯ",
    "ឆ្មា",
    # Mathematics and symbols.
    "x² + y³",
    "½ ¼ ¾",
    "∑∫∂",
    "ℝ ℕ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝",
    "①②③",
    "Ⅻ ⅻ",
    "°C ° µm",
    # HTML entities.
    "&amp;",
    "&lt;b&gt;bold&lt;/b&gt;",
    "Tom &amp; Jerry",
    "&amp;amp;",
    "&amp;amp;amp;",
    "&amp;amp;amp;amp;",
    "&eacute; &Eacute; &EACUTE;",
    "caf&eacute",
    "&copy 2024",
    "&notit; &notin;",
    "&#39; &#x27; &#X27; &#8217;",
    "&#x1F600; &#128512;",
    "&#0; &#x80; &#150; &#x9D;",
    "&#xD800; &#x110000; &#99999999999999999999;",
    "&#1; &#xFFFF; &#13; &#x10FFFE;",
    "&#65 &#x41 &#; &#x;",
    "&nosuch; & amp; &&amp; AT&T R&D",
    "&hellip; &nbsp; a&nbsp;b",
    "&NTILDE; &SZLIG; P&EACUTE;REZ",
    "&ThickSpace; &NewLine; &Tab; &zwj; &shy;",
    "<b>&amp;</b>",
    "line1 &amp;\n<p> &amp;\nline3 &amp;",
    "&amp;lt; &#38;lt; &#x26;#x41;",
    "&ampx &ltx &lt",
    "&CounterClockwiseContourIntegral; &CounterClockwiseContourIntegralX;",
    # Quotes and apostrophes.
    "“quoted”",
    "‘single’",
    "it’s don’t",
    "‚low‛ „German“",
    "ʼokina",
    "«guillemets» ‹›",
    "′ prime ″",
    # Ligatures.
    "ﬁsh ﬂower",
    "ﬀ ﬃ ﬄ ﬅ ﬆ",
    "Ĳssel ǅ ǈ ǋ ŉ",
    "æ œ Æ Œ",
    # Fullwidth and halfwidth.
    "ＡＢＣ",
    "ｆｕｌｌｗｉｄｔｈ",
    "１２３",
    "\u3000ideographic\u3000space",
    "！？",
    "￥ ￦ ﾠ",
    # Control and invisible characters.
    "\x00null",
    "bell\x07",
    "\x1b[31mred\x1b[0m",
    "\x1b[1;\u0663mx \x1b[",
    "\x7fdel \x0bvt \x0cff",
    "zero\u200bwidth",
    "zwnj\u200c zwj\u200d",
    "\u200eLRM \u202eRLO",
    "\ufeffBOM",
    "\ufffc \ufff9ann\ufffb",
    "\u206a",
    "soft\u00adhyphen",
    "\u2060word joiner",
    "\u180e mongolian",
    "\x85nel",
    "\x80\x9f C1",
    "\x81",
    "\x1a",
    "\ufffd",
    # Whitespace.
    "\u00a0nbsp",
    "en\u2002space em\u2003space thin\u2009space",
    "\u3000",
    "\u2028LS\u2029PS",
    "\x1c\x1d\x1e\x1f",
    "\u205f\u1680",
    # Mojibake (what ftfy repairs).
    "âœ” No problems",
    "sÃ³",
    "voilÃ le travail",
    "schÃ¶n",
    "Ã©tÃ©",
    "cafÃ©",
    "The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.",
    "l’humanitÃ©",
    "Ã  la mode",
    "ÃƒÂ©",
    "â€œquotedâ€\x9d",
    "â€œ like this â€\ufffd",
    "Ð¿Ñ€Ð¸Ð²ÐµÑ‚",
    "Ï€",
    "ÎºÎ±Î»Î·Î¼Î­ÏÎ±",
    "æ—¥æœ¬èªž",
    "ì•ˆë…•",
    "Ø§Ù„Ø¹Ø±Ø¨ÙŠØ©",
    "à¤¹à¤¿à¤¨à¥à¤¦à¥€",
    "ðŸ˜€",
    "í\xa0½í¸\x80",
    "Â£5 Â© â€¦ â€“",
    "Ã¼ber",
    "ÐšÐ¾ÑˆÐºÐ°",
    "РџСЂРёРІРµС‚",
    "вЂњtestвЂќ",
    "‚Äúmacroman‚Äù",
    "Ã‘andÃº",
    "cÃ\xa0fe",
    "Ã\x81",
    "\x93quoted\x94",
    "\x80 euro",
    "maÃ±ana",
    "&macr;\\_(ã\x83\x84)_/&macr;",
    "Broken text&hellip; it&#x2019;s ﬂubberiﬁc!",
    "ＬＯＵＤ　ＮＯＩＳＥＳ",
    "Ã¡ Ã­ Ã³ Ãº",
    "ÅŸehir",
    "Ä±",
    "×©×œ×•×",
    "Ã\n©",
    "\u00c3\u00a0 \u00c3 quele",
    "ÃƒÆ’Ã¢â‚¬Å¡",
]


def label_strings():
    """Every synonym of every label set alone, and each in one template (cycling through them)."""
    names = []
    for path in sorted((ROOT / "models" / "labels").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            for name in line.split(","):
                name = name.strip()
                if name and name not in names:
                    names.append(name)
    return names + [TEMPLATES[i % len(TEMPLATES)].format(n) for i, n in enumerate(names)]


def random_strings(n=200, seed=20240607):
    """A seeded sample: random code points (any plane, assigned or not), random BMP text, words
    of mixed scripts, and mojibake made by mis-decoding UTF-8."""
    rng = random.Random(seed)
    words = ["cat", "Straße", "ΟΔΟΣ", "日本", "кот", "😀", "é", "e\u0301", "“x”", "&amp;", "ﬁ", "Ｘ", "İ", "\u00a0", "'s", "١٢"]
    encodings = ["latin-1", "windows-1252", "windows-1251", "windows-1253", "cp437", "mac-roman"]

    def cp(hi):
        while True:
            c = rng.randint(0, hi)
            if not 0xD800 <= c <= 0xDFFF:
                return chr(c)

    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            s = "".join(cp(0x10FFFF) for _ in range(rng.randint(1, 12)))
        elif kind == 1:
            s = "".join(cp(0xFFFF) for _ in range(rng.randint(1, 12)))
        elif kind == 2:
            s = " ".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
        else:
            s = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
            s = s.encode("utf-8").decode(rng.choice(encodings), errors="replace")
        out.append(s)
    return out


def dump_lines(path, rows):
    path.write_text("[\n" + ",\n".join(json.dumps(r, ensure_ascii=True, separators=(",", ":")) for r in rows) + "\n]\n", encoding="ascii")


def main():
    strings = HARD + label_strings() + random_strings()
    assert not any(0xD800 <= ord(c) <= 0xDFFF for s in strings for c in s)
    tokenizer = open_clip.get_tokenizer("convnext_large_d_320")
    assert tokenizer.context_length == 77 and tokenizer.vocab_size == 49408
    tokens = tokenizer(strings).tolist()
    OUT.mkdir(parents=True, exist_ok=True)
    dump_lines(OUT / "strings.json", strings)
    dump_lines(OUT / "tokens.json", tokens)
    print(f"{len(strings)} strings ({len(HARD)} hard) -> {OUT}")


if __name__ == "__main__":
    main()

//! Text probes: the texts themselves changed before tokenising, the way
//! real input goes wrong — typos, dropped or repeated words, spaces lost
//! or added inside words, texts cut short, SHOUTED words. Words are the
//! text split on whitespace; a probed text is its words joined by single
//! spaces. Severity s (1 … 5) sets the share of words touched: 0.1·s
//! (0.2·s for casing, 0.15·s of the words cut by truncation).

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextChange {
    /// One typo per touched word: two neighbouring letters swapped, one
    /// letter deleted, inserted or replaced (a–z, in the replaced letter's case).
    Typo,
    /// Touched words left out (the first word stays when all would go).
    Drop,
    /// Touched words written twice.
    Repeat,
    /// The space after a touched word lost (joined to the next word), or,
    /// for the last word, a space put inside it.
    Whitespace,
    /// Only the first ⌈(1 − 0.15·s)·n⌉ words kept.
    Truncate,
    /// Touched words upper-cased (lower-cased when already upper case).
    Case,
}

/// `text` changed by `change` at `severity`, drawing from `rng`.
pub fn change_text(text: &str, change: TextChange, severity: u32, rng: &mut impl Rng) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let share = 0.1 * severity as f64;
    let mut out: Vec<String> = Vec::with_capacity(words.len() + 4);
    match change {
        TextChange::Truncate => {
            let keep = ((1.0 - 0.15 * severity as f64) * words.len() as f64).ceil().max(1.0) as usize;
            return words[..keep.min(words.len())].join(" ");
        }
        TextChange::Whitespace => {
            let mut i = 0;
            while i < words.len() {
                let (word, last) = (words[i], i + 1 == words.len());
                if rng.random_bool(share) {
                    if !last {
                        out.push(format!("{word}{}", words[i + 1]));
                        i += 2;
                        continue;
                    }
                    out.push(split_word(word, rng));
                } else {
                    out.push(word.to_string());
                }
                i += 1;
            }
        }
        _ => {
            for word in &words {
                let p = if change == TextChange::Case { (2.0 * share).min(1.0) } else { share };
                if !rng.random_bool(p) {
                    out.push(word.to_string());
                    continue;
                }
                match change {
                    TextChange::Typo => out.push(typo(word, rng)),
                    TextChange::Drop => {}
                    TextChange::Repeat => out.extend([word.to_string(), word.to_string()]),
                    TextChange::Case => out.push(if word.to_uppercase() == *word { word.to_lowercase() } else { word.to_uppercase() }),
                    TextChange::Whitespace | TextChange::Truncate => unreachable!("handled above"),
                }
            }
            if out.is_empty() {
                out.extend(words.first().map(|w| w.to_string()));
            }
        }
    }
    out.join(" ")
}

/// A space put at a random place inside `word` (words of one letter stay whole).
fn split_word(word: &str, rng: &mut impl Rng) -> String {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 2 {
        return word.to_string();
    }
    let at = rng.random_range(1..chars.len());
    format!("{} {}", chars[..at].iter().collect::<String>(), chars[at..].iter().collect::<String>())
}

/// One typo at a random place of `word`.
fn typo(word: &str, rng: &mut impl Rng) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    let letter = |rng: &mut dyn rand::RngCore, like: Option<char>| {
        let c = (b'a' + rng.random_range(0..26u8)) as char;
        if like.is_some_and(|l| l.is_uppercase()) {
            c.to_ascii_uppercase()
        } else {
            c
        }
    };
    // Words of one letter can only gain or change a letter.
    let kind = if chars.len() < 2 { 2 + rng.random_range(0..2u8) } else { rng.random_range(0..4u8) };
    let at = rng.random_range(0..chars.len());
    match kind {
        0 => {
            let at = at.min(chars.len() - 2);
            chars.swap(at, at + 1);
        }
        1 => {
            chars.remove(at);
        }
        2 => {
            let c = letter(rng, chars.get(at).copied());
            chars.insert(at, c);
        }
        _ => chars[at] = letter(rng, Some(chars[at])),
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const TEXT: &str = "the quick brown fox jumps over the lazy dog again and again today";

    fn probed(change: TextChange, severity: u32, seed: u64) -> String {
        change_text(TEXT, change, severity, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    fn words(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    #[test]
    fn truncation_keeps_the_first_words() {
        // 13 words: severity 1 keeps ⌈0.85·13⌉ = 12, severity 5 ⌈0.25·13⌉ = 4.
        assert_eq!(words(&probed(TextChange::Truncate, 1, 0)).len(), 12);
        assert_eq!(probed(TextChange::Truncate, 5, 0), "the quick brown fox");
        assert_eq!(change_text("one", TextChange::Truncate, 5, &mut ChaCha8Rng::seed_from_u64(0)), "one");
    }

    #[test]
    fn word_changes_touch_about_their_share() {
        let n = words(TEXT).len();
        let mean = |f: &dyn Fn(u64) -> f64| (0..400).map(f).sum::<f64>() / 400.0;
        // Severity 3: 30% of the words dropped or repeated on average.
        let dropped = mean(&|s| (n - words(&probed(TextChange::Drop, 3, s)).len()) as f64 / n as f64);
        let repeated = mean(&|s| (words(&probed(TextChange::Repeat, 3, s)).len() - n) as f64 / n as f64);
        assert!((0.26..0.34).contains(&dropped) && (0.26..0.34).contains(&repeated), "{dropped} {repeated}");
        // Severity 5 casing touches every word.
        assert_eq!(probed(TextChange::Case, 5, 1), TEXT.to_uppercase());
        assert_eq!(change_text("LOUD words", TextChange::Case, 5, &mut ChaCha8Rng::seed_from_u64(0)), "loud WORDS");
    }

    #[test]
    fn typos_change_one_letter_per_touched_word() {
        for seed in 0..50 {
            let got = probed(TextChange::Typo, 2, seed);
            let (a, b) = (words(TEXT), words(&got));
            assert_eq!(a.len(), b.len(), "typos keep the words");
            for (x, y) in a.iter().zip(&b) {
                let (lx, ly) = (x.chars().count() as i64, y.chars().count() as i64);
                assert!((lx - ly).abs() <= 1, "{x} → {y}");
                if lx == ly && x != y {
                    // A swap or one replaced letter: at most two positions differ.
                    assert!(x.chars().zip(y.chars()).filter(|(p, q)| p != q).count() <= 2, "{x} → {y}");
                }
            }
        }
        assert_eq!(probed(TextChange::Typo, 1, 9), probed(TextChange::Typo, 1, 9), "seeded");
    }

    #[test]
    fn whitespace_joins_or_splits_words_and_keeps_the_letters() {
        for seed in 0..50 {
            let got = probed(TextChange::Whitespace, 4, seed);
            assert_eq!(got.replace(' ', ""), TEXT.replace(' ', ""), "only spaces move");
        }
        assert_ne!(probed(TextChange::Whitespace, 4, 3), TEXT);
        // Nothing to join or split: stays.
        assert_eq!(change_text("a", TextChange::Whitespace, 5, &mut ChaCha8Rng::seed_from_u64(0)), "a");
        assert_eq!(change_text("", TextChange::Drop, 5, &mut ChaCha8Rng::seed_from_u64(0)), "");
    }
}

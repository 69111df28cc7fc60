//! Knowledge-base articles: what was done in the past to fix a problem.

use crate::error::FieldError;
use crate::text::Tag;
use std::str::FromStr;

/// Where an article is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArticleStatus {
    /// Written by an expert (possibly offline), not yet reviewed.
    InReview,
    /// Visible to everyone who may read the KB.
    Published,
    /// Withdrawn.
    Archived,
    /// Turned down in review, with a reason sent to the author.
    Rejected,
}

impl ArticleStatus {
    /// Wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InReview => "in_review",
            Self::Published => "published",
            Self::Archived => "archived",
            Self::Rejected => "rejected",
        }
    }
}

impl FromStr for ArticleStatus {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        match s {
            "in_review" => Ok(Self::InReview),
            "published" => Ok(Self::Published),
            "archived" => Ok(Self::Archived),
            "rejected" => Ok(Self::Rejected),
            _ => Err(FieldError::new("", format!("unknown article status {s:?}"))),
        }
    }
}

/// Most tags an article may carry.
pub const MAX_TAGS: usize = 20;

/// Parses a tag list: each tag trimmed and lower-cased, repeats dropped, at most
/// [`MAX_TAGS`].
pub fn parse_tags<S: AsRef<str>>(raw: &[S]) -> Result<Vec<Tag>, FieldError> {
    if raw.len() > MAX_TAGS {
        return Err(FieldError::new("", format!("at most {MAX_TAGS} tags")));
    }
    let mut tags: Vec<Tag> = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let tag = Tag::parse(&t.as_ref().to_lowercase()).map_err(|e| e.under(&i.to_string()))?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

/// A snippet of `width` characters of `body` around the first occurrence of any of
/// `terms` (case-insensitive; a term that does not occur as typed is looked for by its
/// stem, so `flickering` finds `flickers`), for result lists where the database has no
/// snippet function of its own.
pub fn snippet(body: &str, terms: &[&str], width: usize) -> String {
    let chars: Vec<char> = body.chars().collect();
    let folded: Vec<char> = chars.iter().map(|c| c.to_lowercase().next().unwrap_or(*c)).collect();
    let find = |needle: &[char]| -> Option<usize> {
        if needle.is_empty() || needle.len() > folded.len() {
            return None;
        }
        (0..=folded.len() - needle.len()).find(|&i| folded[i..i + needle.len()] == *needle)
    };
    let hit = terms
        .iter()
        .filter_map(|t| {
            let t: Vec<char> = t.chars().flat_map(char::to_lowercase).collect();
            let stem = t.len().saturating_sub(3).max(4).min(t.len());
            find(&t).or_else(|| find(&t[..stem]))
        })
        .min()
        .unwrap_or(0);
    let start = hit.saturating_sub(width / 3);
    let end = (start + width).min(chars.len());
    let mut out: String = chars[start..end].iter().collect();
    if start > 0 {
        out.insert(0, '…');
    }
    if end < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised() {
        let t = parse_tags(&["HDMI", "hdmi ", "no-signal"]).unwrap();
        assert_eq!(t.iter().map(|t| t.as_str()).collect::<Vec<_>>(), vec!["hdmi", "no-signal"]);
        assert!(parse_tags(&vec!["x"; 21]).is_err());
    }

    #[test]
    fn snippets_centre_on_the_match() {
        let body = "Intro text. ".repeat(20) + "Replace the HDMI cable and reboot.";
        let s = snippet(&body, &["hdmi"], 40);
        assert!(s.contains("HDMI"), "{s}");
        assert!(s.starts_with('…'));
        let s = snippet(&body, &["rebooting"], 20);
        assert!(s.contains("reboot"), "found by its stem: {s}");
        // Case folding that changes lengths never splits a character.
        let s = snippet("İİİ Straße İ hdmi", &["hdmi"], 6);
        assert!(s.contains("hdmi"), "{s}");
        // The earliest match wins; `STRASSE` finds `Straße` by its stem.
        let s = snippet("İİİ Straße İ hdmi", &["hdmi", "STRASSE"], 6);
        assert!(s.contains("Stra"), "{s}");
    }
}

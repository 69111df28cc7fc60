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
}

impl ArticleStatus {
    /// Wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InReview => "in_review",
            Self::Published => "published",
            Self::Archived => "archived",
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

/// A snippet of `body` around the first occurrence of any of `terms`, for result lists
/// where the database has no snippet function of its own.
pub fn snippet(body: &str, terms: &[&str], width: usize) -> String {
    let lower = body.to_lowercase();
    let hit = terms.iter().filter(|t| !t.is_empty()).filter_map(|t| lower.find(&t.to_lowercase())).min().unwrap_or(0);
    let chars: Vec<char> = body.chars().collect();
    let hit_chars = body[..hit.min(body.len())].chars().count();
    let start = hit_chars.saturating_sub(width / 3);
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
    }
}

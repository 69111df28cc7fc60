//! Finding a customer by name, e-mail or phone among millions, with an index and not a
//! scan: each customer is filed under a few short *terms* (their name from each of its
//! words on: `ana maria lopez`, `maria lopez`, `lopez`; the e-mail address marked `@`;
//! the phone's digits reversed and marked `~`), and a query becomes one prefix range:
//! `mar lop` finds Ana Maria Lopez through `maria lopez`, `lop` through `lopez`.
//! Words typed out of the name's order (`lopez ana`) fall back to a bounded search. The same functions file a customer and plan a query, so the two agree.

/// The prefix that marks a phone term (reversed digits), so it never meets a word.
pub const PHONE_MARK: char = '~';

/// The prefix that marks an e-mail term, so a name search never meets an address.
pub const EMAIL_MARK: char = '@';

/// Fewest digits that make a query a phone search.
pub const MIN_PHONE_DIGITS: usize = 4;

/// Lower-cases and strips the accents of common Latin letters (`José` → `jose`).
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        let r = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' => "c",
            'ď' | 'đ' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'ğ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
            'ł' | 'ľ' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'œ' => "oe",
            'ř' => "r",
            'ś' | 'š' | 'ş' => "s",
            'ß' => "ss",
            'ť' | 'ţ' => "t",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(r);
    }
    out
}

/// The words of a name, folded (`Anne-Marie O'Neil` → `anne`, `marie`, `o`, `neil`).
pub fn words(s: &str) -> Vec<String> {
    fold(s).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// The phone term of a number: its digits, last first.
pub fn phone_term(phone: &str) -> String {
    let mut t = String::from(PHONE_MARK);
    t.extend(phone.chars().filter(char::is_ascii_digit).rev());
    t
}

/// The name from each of its words on (`ana maria lopez`, `maria lopez`, `lopez`).
pub fn name_terms(name: &str) -> Vec<String> {
    let w = words(name);
    (0..w.len()).map(|i| w[i..].join(" ")).collect()
}

/// The terms a customer is filed under (no duplicates).
pub fn terms(name: &str, email: &str, phone: &str) -> Vec<String> {
    let mut t = name_terms(name);
    t.push(format!("{EMAIL_MARK}{}", email.trim().to_lowercase()));
    t.push(phone_term(phone));
    t.sort();
    t.dedup();
    t.retain(|w| !w.is_empty() && w.len() <= 200);
    t
}

/// A search, planned: one term prefix the index answers; for several name words, a
/// fallback for words typed out of the name's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The prefix to look up.
    pub lead: String,
    /// When nothing starts with `lead`: the word to look up, and the other words each
    /// result must also have (in any order).
    pub fallback: Option<(String, Vec<String>)>,
}

/// Plans a query: digits (with spaces, `+`, `-`, brackets, dots) are a phone number,
/// matched by its last digits; a query with `@` (or one word with `.`, `_` or `+`) is
/// an e-mail prefix; anything else is
/// name words, the last a prefix (`ana mar`). `None` when nothing searchable remains.
pub fn plan(q: &str) -> Option<Plan> {
    let q = q.trim();
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let phoneish = q.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if phoneish && digits.len() >= MIN_PHONE_DIGITS {
        return Some(Plan { lead: phone_term(&digits), fallback: None });
    }
    // `@`, or one token with an address's punctuation (`maria.lopez`), is an e-mail.
    let addressish = !q.contains(char::is_whitespace) && q.contains(['.', '_', '+']);
    if q.contains('@') || addressish {
        return Some(Plan { lead: format!("{EMAIL_MARK}{}", q.to_lowercase()), fallback: None });
    }
    let mut w = words(q);
    if w.is_empty() {
        return None;
    }
    let lead = w.join(" ");
    if w.len() == 1 {
        return Some(Plan { lead, fallback: None });
    }
    // The longest word narrows the fallback's range the most.
    let longest = (0..w.len()).max_by_key(|i| (w[*i].len(), usize::MAX - i)).unwrap_or(0);
    let word = w.remove(longest);
    Some(Plan { lead, fallback: Some((word, w)) })
}

/// The exclusive upper bound of the range of strings starting with `prefix` (the
/// prefix with its last character incremented), so `term >= prefix AND term < upper`
/// walks a B-tree index on either database.
pub fn upper_bound(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    char::MAX.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_is_filed_under_name_words_email_and_reversed_phone() {
        let t = terms("José  O'Neil", " Jose@Example.com ", "+1 312 555 0199");
        assert_eq!(t, vec!["@jose@example.com", "jose o neil", "neil", "o neil", "~99105552131"]);
    }

    #[test]
    fn local_digits_search_by_the_end_of_the_number() {
        let p = plan("(312) 555-0199").unwrap();
        assert_eq!(p.lead, "~9910555213");
        assert!(phone_term("+13125550199").starts_with(&p.lead));
        assert_eq!(plan("555").unwrap().lead, "555", "too few digits for a phone search");
    }

    #[test]
    fn names_are_one_range_and_out_of_order_words_fall_back_to_the_longest() {
        assert_eq!(plan("smi").unwrap(), Plan { lead: "smi".into(), fallback: None });
        let p = plan("ann  Smi").unwrap();
        assert_eq!((p.lead.as_str(), p.fallback), ("ann smi", Some(("ann".into(), vec!["smi".into()]))));
        assert_eq!(plan("jo Smith").unwrap().fallback, Some(("smith".into(), vec!["jo".into()])));
        assert_eq!(plan("Casey@Ex").unwrap().lead, "@casey@ex");
        assert_eq!(plan("maria.lopez").unwrap().lead, "@maria.lopez");
        assert_eq!(plan("  -- ").map(|p| p.lead), None);
    }

    #[test]
    fn the_upper_bound_closes_the_prefix_range() {
        assert_eq!(upper_bound("smi"), "smj");
        assert_eq!(upper_bound("~99"), "~9:");
        for s in ["smith", "smi", "smiz"] {
            assert!(s >= "smi" && s < upper_bound("smi").as_str());
        }
        assert!("smj" >= upper_bound("smi").as_str());
    }
}

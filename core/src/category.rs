//! Categories: the kinds of product supported. A plan covers some, an expert's skills
//! are some, and a ticket has one. The list is closed so a typo can never create a
//! category nobody is skilled in.

use crate::error::FieldError;
use std::fmt;
use std::str::FromStr;

macro_rules! categories {
    ($($variant:ident => $slug:literal, $label:literal;)*) => {
        /// A kind of product the squad supports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        #[repr(u8)]
        pub enum Category {
            $(#[doc = $label] $variant,)*
        }

        impl Category {
            /// Every category, in a stable order.
            pub const ALL: &'static [Category] = &[$(Category::$variant,)*];

            /// The wire name (`television`).
            pub fn slug(self) -> &'static str {
                match self { $(Category::$variant => $slug,)* }
            }

            /// A human label (`Televisions`).
            pub fn label(self) -> &'static str {
                match self { $(Category::$variant => $label,)* }
            }
        }

        impl FromStr for Category {
            type Err = FieldError;
            fn from_str(s: &str) -> Result<Self, FieldError> {
                match s {
                    $($slug => Ok(Category::$variant),)*
                    _ => Err(FieldError::new("", format!(
                        "unknown category {s:?}; known categories: {}",
                        [$($slug),*].join(", ")
                    ))),
                }
            }
        }
    };
}

categories! {
    Television => "television", "Televisions";
    Laptop => "laptop", "Laptops";
    Desktop => "desktop", "Desktop computers";
    Phone => "phone", "Mobile phones";
    Tablet => "tablet", "Tablets";
    Printer => "printer", "Printers and scanners";
    Network => "network", "Routers and home networks";
    Camera => "camera", "Cameras";
    Audio => "audio", "Audio and home cinema";
    Appliance => "appliance", "Kitchen and home appliances";
    GamingConsole => "gaming_console", "Gaming consoles";
    SmartHome => "smart_home", "Smart-home devices";
    Wearable => "wearable", "Wearables";
    Monitor => "monitor", "Monitors and projectors";
}

impl Category {
    /// Bit of this category in a [`CategorySet`].
    fn bit(self) -> u32 {
        1 << (self as u8)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// A non-empty-or-empty set of categories, compact and ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CategorySet(u32);

impl CategorySet {
    /// The empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Parses a list of slugs; refuses unknown ones and an empty list, collapses repeats.
    pub fn parse_non_empty<S: AsRef<str>>(raw: &[S]) -> Result<Self, FieldError> {
        if raw.is_empty() {
            return Err(FieldError::new("", "must name at least one category"));
        }
        let mut set = Self::empty();
        for (i, s) in raw.iter().enumerate() {
            let c: Category = s.as_ref().parse().map_err(|e: FieldError| e.under(&i.to_string()))?;
            set.insert(c);
        }
        Ok(set)
    }

    /// Adds a category.
    pub fn insert(&mut self, c: Category) {
        self.0 |= c.bit();
    }

    /// Whether `c` is in the set.
    pub fn contains(&self, c: Category) -> bool {
        self.0 & c.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The categories, in the order of [`Category::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = Category> + '_ {
        Category::ALL.iter().copied().filter(|c| self.contains(*c))
    }

    /// The slugs, for storage and the wire.
    pub fn slugs(&self) -> Vec<&'static str> {
        self.iter().map(Category::slug).collect()
    }
}

impl FromIterator<Category> for CategorySet {
    fn from_iter<T: IntoIterator<Item = Category>>(iter: T) -> Self {
        let mut s = Self::empty();
        for c in iter {
            s.insert(c);
        }
        s
    }
}

impl serde::Serialize for CategorySet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_round_trip() {
        for c in Category::ALL {
            assert_eq!(c.slug().parse::<Category>().unwrap(), *c);
        }
        assert!(Category::ALL.len() <= 32);
    }

    #[test]
    fn unknown_categories_are_named_in_the_error() {
        let e = CategorySet::parse_non_empty(&["laptop", "toaster"]).unwrap_err();
        assert_eq!(e.field, "1");
        assert!(e.message.contains("toaster"));
        assert!(CategorySet::parse_non_empty::<&str>(&[]).is_err());
    }

    #[test]
    fn sets_collapse_repeats() {
        let s = CategorySet::parse_non_empty(&["laptop", "laptop", "television"]).unwrap();
        assert_eq!(s.slugs(), vec!["television", "laptop"]);
    }
}

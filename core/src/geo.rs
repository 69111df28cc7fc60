//! Places on Earth: validated coordinates, great-circle distances and service areas.

use crate::error::FieldError;

/// Mean Earth radius used for distances, in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6_371.008_8;

/// A point given by latitude and longitude in degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GeoPoint {
    lat: f64,
    lon: f64,
}

impl GeoPoint {
    /// Checks the ranges: latitude in [-90, 90], longitude in [-180, 180], both finite.
    pub fn new(lat: f64, lon: f64) -> Result<Self, FieldError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(FieldError::new("lat", "must be a latitude between -90 and 90"));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(FieldError::new("lon", "must be a longitude between -180 and 180"));
        }
        Ok(Self { lat, lon })
    }

    /// Latitude in degrees.
    pub fn lat(&self) -> f64 {
        self.lat
    }

    /// Longitude in degrees.
    pub fn lon(&self) -> f64 {
        self.lon
    }

    /// Great-circle distance in kilometres (haversine).
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }

    /// The point on the unit sphere. Straight-line (chord) distance between these is
    /// monotonic in great-circle distance, so a 3-D spatial index orders by real distance.
    pub fn unit_vector(&self) -> [f64; 3] {
        let (lat, lon) = (self.lat.to_radians(), self.lon.to_radians());
        [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
    }
}

/// Squared chord length on the unit sphere for a great-circle distance in kilometres.
pub fn chord2_for_km(km: f64) -> f64 {
    let angle = (km / EARTH_RADIUS_KM).min(std::f64::consts::PI);
    let chord = 2.0 * (angle / 2.0).sin();
    chord * chord
}

/// Great-circle kilometres for a squared chord length on the unit sphere.
pub fn km_for_chord2(chord2: f64) -> f64 {
    let half = (chord2.max(0.0).sqrt() / 2.0).min(1.0);
    2.0 * half.asin() * EARTH_RADIUS_KM
}

/// Where an expert works: a disc around a centre.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ServiceArea {
    center: GeoPoint,
    radius_km: f64,
}

impl ServiceArea {
    /// Largest service radius accepted.
    pub const MAX_RADIUS_KM: f64 = 500.0;

    /// Checks the radius: positive, at most [`Self::MAX_RADIUS_KM`].
    pub fn new(center: GeoPoint, radius_km: f64) -> Result<Self, FieldError> {
        if !radius_km.is_finite() || radius_km <= 0.0 || radius_km > Self::MAX_RADIUS_KM {
            return Err(FieldError::new(
                "radius_km",
                format!("must be greater than 0 and at most {}", Self::MAX_RADIUS_KM),
            ));
        }
        Ok(Self { center, radius_km })
    }

    /// The centre.
    pub fn center(&self) -> GeoPoint {
        self.center
    }

    /// The radius in kilometres.
    pub fn radius_km(&self) -> f64 {
        self.radius_km
    }

    /// Whether `p` lies in the area.
    pub fn contains(&self, p: &GeoPoint) -> bool {
        self.center.distance_km(p) <= self.radius_km
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_of_range_coordinates_are_refused() {
        assert!(GeoPoint::new(90.1, 0.0).is_err());
        assert!(GeoPoint::new(0.0, -180.5).is_err());
        assert!(GeoPoint::new(f64::NAN, 0.0).is_err());
        assert!(GeoPoint::new(-90.0, 180.0).is_ok());
    }

    #[test]
    fn known_distance() {
        // Chicago to Milwaukee: about 131 km.
        let chi = GeoPoint::new(41.8781, -87.6298).unwrap();
        let mke = GeoPoint::new(43.0389, -87.9065).unwrap();
        let d = chi.distance_km(&mke);
        assert!((d - 131.0).abs() < 2.0, "{d}");
    }

    proptest! {
        #[test]
        fn chord_order_matches_distance_order(
            a in (-89.0f64..89.0, -179.0f64..179.0),
            b in (-89.0f64..89.0, -179.0f64..179.0),
            c in (-89.0f64..89.0, -179.0f64..179.0),
        ) {
            let [a, b, c] = [a, b, c].map(|(la, lo)| GeoPoint::new(la, lo).unwrap());
            let chord2 = |p: &GeoPoint, q: &GeoPoint| {
                let (u, v) = (p.unit_vector(), q.unit_vector());
                (0..3).map(|i| (u[i] - v[i]).powi(2)).sum::<f64>()
            };
            let (db, dc) = (a.distance_km(&b), a.distance_km(&c));
            if (db - dc).abs() > 1e-6 {
                prop_assert_eq!(db < dc, chord2(&a, &b) < chord2(&a, &c));
            }
            prop_assert!((km_for_chord2(chord2(&a, &b)) - db).abs() < 1e-3);
            prop_assert!((chord2_for_km(db) - chord2(&a, &b)).abs() < 1e-9);
        }
    }
}

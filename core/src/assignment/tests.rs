//! Table-driven cases for the dispatcher, and properties: the chosen expert always
//! satisfies the hard constraints, and the index agrees with a full scan.

use super::*;
use crate::category::{Category, CategorySet};
use crate::geo::{GeoPoint, ServiceArea};
use chrono::{Duration, TimeZone};
use proptest::prelude::*;

const CHICAGO: (f64, f64) = (41.8781, -87.6298);

fn at(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new(lat, lon).unwrap()
}

/// `km` kilometres north of Chicago.
fn north(km: f64) -> GeoPoint {
    at(CHICAGO.0 + km / 111.2, CHICAGO.1)
}

fn id(n: u128) -> ExpertId {
    ExpertId::from_uuid(uuid::Uuid::from_u128(n))
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn expert(n: u128, skills: &[Category], location: GeoPoint) -> Candidate {
    Candidate {
        id: id(n),
        skills: skills.iter().copied().collect(),
        area: ServiceArea::new(at(CHICAGO.0, CHICAGO.1), 40.0).unwrap(),
        location,
        on_duty: true,
        active_tickets: 0,
        capacity: 3,
        last_assigned_at: None,
    }
}

fn decide(pool: &[Candidate], category: Category, exclude: &[u128]) -> Decision {
    let exclude: BTreeSet<ExpertId> = exclude.iter().map(|n| id(*n)).collect();
    let req = Request { category, location: at(CHICAGO.0, CHICAGO.1), exclude: &exclude, now: now() };
    let pool = ExpertPool::from_candidates(pool.iter().cloned());
    let indexed = pool.choose(&req);
    assert_eq!(indexed, pool.choose_by_scan(&req), "index and scan disagree");
    indexed
}

fn chosen(d: &Decision) -> Option<u128> {
    match d {
        Decision::Assigned(a) => Some(a.expert_id.as_uuid().as_u128()),
        Decision::Unassignable(_) => None,
    }
}

#[test]
fn table_of_cases() {
    use Category::{Laptop, Television};
    struct Case {
        name: &'static str,
        pool: Vec<Candidate>,
        exclude: Vec<u128>,
        want: Option<u128>,
        reason_contains: &'static str,
    }
    let busy = |mut c: Candidate, n| {
        c.active_tickets = n;
        c
    };
    let off = |mut c: Candidate| {
        c.on_duty = false;
        c
    };
    let narrow = |mut c: Candidate| {
        c.area = ServiceArea::new(north(60.0), 10.0).unwrap();
        c
    };
    let recent = |mut c: Candidate, mins| {
        c.last_assigned_at = Some(now() - Duration::minutes(mins));
        c
    };
    let cases = vec![
        Case {
            name: "skill mismatch: the nearer expert lacks the skill",
            pool: vec![expert(1, &[Laptop], north(1.0)), expert(2, &[Television], north(5.0))],
            exclude: vec![],
            want: Some(2),
            reason_contains: "",
        },
        Case {
            name: "nobody has the skill",
            pool: vec![expert(1, &[Laptop], north(1.0))],
            exclude: vec![],
            want: None,
            reason_contains: "no expert is skilled in television",
        },
        Case {
            name: "out of area: the ticket lies outside the nearer expert's area",
            pool: vec![narrow(expert(1, &[Television], north(1.0))), expert(2, &[Television], north(8.0))],
            exclude: vec![],
            want: Some(2),
            reason_contains: "",
        },
        Case {
            name: "busy: a free expert a little farther beats one on a job",
            pool: vec![busy(expert(1, &[Television], north(1.0)), 1), expert(2, &[Television], north(6.0))],
            exclude: vec![],
            want: Some(2),
            reason_contains: "",
        },
        Case {
            name: "busy but much nearer still wins",
            pool: vec![busy(expert(1, &[Television], north(1.0)), 1), expert(2, &[Television], north(30.0))],
            exclude: vec![],
            want: Some(1),
            reason_contains: "",
        },
        Case {
            name: "at capacity is never chosen",
            pool: vec![busy(expert(1, &[Television], north(0.5)), 3), expert(2, &[Television], north(35.0))],
            exclude: vec![],
            want: Some(2),
            reason_contains: "",
        },
        Case {
            name: "off duty is never chosen",
            pool: vec![off(expert(1, &[Television], north(0.5)))],
            exclude: vec![],
            want: None,
            reason_contains: "1 are off duty",
        },
        Case {
            name: "an expert who declined is never chosen again",
            pool: vec![expert(1, &[Television], north(0.5)), expert(2, &[Television], north(3.0))],
            exclude: vec![1],
            want: Some(2),
            reason_contains: "",
        },
        Case {
            name: "tie: equal cost goes to the lower id",
            pool: vec![expert(9, &[Television], north(2.0)), expert(4, &[Television], north(2.0))],
            exclude: vec![],
            want: Some(4),
            reason_contains: "",
        },
        Case {
            name: "fairness: a recent assignment tips an otherwise equal choice",
            pool: vec![recent(expert(4, &[Television], north(2.0)), 10), expert(9, &[Television], north(2.0))],
            exclude: vec![],
            want: Some(9),
            reason_contains: "",
        },
        Case {
            name: "nobody fits: every reason is counted",
            pool: vec![
                off(expert(1, &[Television], north(1.0))),
                busy(expert(2, &[Television], north(2.0)), 3),
                narrow(expert(3, &[Television], north(3.0))),
                expert(4, &[Television], north(4.0)),
            ],
            exclude: vec![4],
            want: None,
            reason_contains: "of 4 within 250 km, 1 do not serve this location, 1 are off duty, 1 are at capacity, 1 already passed",
        },
        Case {
            name: "too far away to travel",
            pool: vec![expert(1, &[Television], north(400.0))],
            exclude: vec![],
            want: None,
            reason_contains: "within 250 km",
        },
    ];
    for case in cases {
        let d = decide(&case.pool, Category::Television, &case.exclude);
        assert_eq!(chosen(&d), case.want, "{}: {d:#?}", case.name);
        if let Decision::Unassignable(u) = &d {
            assert!(u.reason.contains(case.reason_contains), "{}: {}", case.name, u.reason);
        }
    }
}

#[test]
fn the_choice_explains_itself_and_its_runners_up() {
    let pool = vec![expert(1, &[Category::Television], north(1.0)), expert(2, &[Category::Television], north(4.0)), {
        let mut c = expert(3, &[Category::Television], north(1.5));
        c.active_tickets = 2;
        c
    }];
    let Decision::Assigned(a) = decide(&pool, Category::Television, &[]) else { panic!("unassigned") };
    assert_eq!(a.expert_id, id(1));
    assert!(a.reasons.iter().any(|r| r.contains("skilled in television")));
    assert!(a.reasons.iter().any(|r| r.contains("1.0 km away")));
    assert_eq!(a.runners_up.len(), 2);
    assert_eq!(a.runners_up[0].expert_id, id(2));
    assert!(a.runners_up[0].lost_because[0].contains("km farther away"), "{:?}", a.runners_up[0]);
    assert!(a.runners_up[1].lost_because.iter().any(|r| r.contains("more work in hand")));
    assert!(a.score > a.runners_up[0].score);
}

#[test]
fn pool_updates_move_experts_in_the_index() {
    let mut pool = ExpertPool::from_candidates([expert(1, &[Category::Laptop], north(1.0))]);
    let none = BTreeSet::new();
    let req = |c| Request { category: c, location: at(CHICAGO.0, CHICAGO.1), exclude: &none, now: now() };
    assert!(matches!(pool.choose(&req(Category::Television)), Decision::Unassignable(_)));
    pool.upsert(expert(1, &[Category::Television], north(2.0)));
    assert_eq!(chosen(&pool.choose(&req(Category::Television))), Some(1));
    assert!(matches!(pool.choose(&req(Category::Laptop)), Decision::Unassignable(_)));
    pool.record_assignment(id(1), now());
    assert_eq!(pool.get(id(1)).unwrap().active_tickets, 1);
    pool.release(id(1));
    pool.remove(id(1));
    assert!(pool.is_empty());
    assert!(matches!(pool.choose(&req(Category::Television)), Decision::Unassignable(_)));
}

fn arb_candidate() -> impl Strategy<Value = Candidate> {
    (
        1u128..60,
        prop::collection::vec(0usize..4, 1..3),
        (-0.6f64..0.6, -0.6f64..0.6),
        (-0.6f64..0.6, -0.6f64..0.6, 1.0f64..60.0),
        any::<bool>(),
        0u32..4,
        prop::option::of(0i64..400),
    )
        .prop_map(|(n, skills, (dlat, dlon), (clat, clon, r), on_duty, active, last)| Candidate {
            id: id(n),
            skills: skills.into_iter().map(|i| Category::ALL[i]).collect::<CategorySet>(),
            area: ServiceArea::new(at(CHICAGO.0 + clat, CHICAGO.1 + clon), r).unwrap(),
            location: at(CHICAGO.0 + dlat, CHICAGO.1 + dlon),
            on_duty,
            active_tickets: active,
            capacity: 3,
            last_assigned_at: last.map(|m| now() - Duration::minutes(m)),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    /// Whoever is chosen satisfies every hard constraint, the index agrees with a full
    /// scan, and nobody is left out who would have been cheaper.
    #[test]
    fn the_chosen_expert_satisfies_the_hard_constraints(
        pool in prop::collection::vec(arb_candidate(), 0..40),
        (tlat, tlon) in (-0.5f64..0.5, -0.5f64..0.5),
        cat in 0usize..4,
        exclude in prop::collection::btree_set(1u128..60, 0..5),
    ) {
        let exclude: BTreeSet<ExpertId> = exclude.into_iter().map(id).collect();
        let req = Request {
            category: Category::ALL[cat],
            location: at(CHICAGO.0 + tlat, CHICAGO.1 + tlon),
            exclude: &exclude,
            now: now(),
        };
        let pool = ExpertPool::from_candidates(pool);
        let decision = pool.choose(&req);
        prop_assert_eq!(&decision, &pool.choose_by_scan(&req));
        match decision {
            Decision::Assigned(a) => {
                let c = pool.get(a.expert_id).unwrap();
                prop_assert_eq!(rule_out(c, &req, c.location.distance_km(&req.location)), None);
                prop_assert!(c.skills.contains(req.category));
                prop_assert!(c.area.contains(&req.location));
                prop_assert!(c.on_duty && c.active_tickets < c.capacity);
                prop_assert!(!exclude.contains(&c.id));
                for other in pool.candidates() {
                    let d = other.location.distance_km(&req.location);
                    if rule_out(other, &req, d).is_none() {
                        prop_assert!(Cost::of(other, &req, d).total() >= a.cost.total());
                    }
                }
            }
            Decision::Unassignable(u) => {
                prop_assert!(!u.reason.is_empty());
                for other in pool.candidates() {
                    let d = other.location.distance_km(&req.location);
                    prop_assert!(rule_out(other, &req, d).is_some());
                }
            }
        }
    }
}

#[test]
fn a_person_may_override_the_service_area_and_distance_but_not_skill_duty_capacity_or_a_pass() {
    use Category::{Laptop, Television};
    let far = {
        let mut c = expert(1, &[Television], north(60.0));
        c.area = ServiceArea::new(north(60.0), 10.0).unwrap();
        c
    };
    let mut off = expert(2, &[Television], north(1.0));
    off.on_duty = false;
    let mut full = expert(3, &[Television], north(1.0));
    full.active_tickets = 3;
    let laptop = expert(4, &[Laptop], north(1.0));
    let passed = expert(5, &[Television], north(1.0));
    let pool = ExpertPool::from_candidates([far, off, full, laptop, passed]);
    let exclude: BTreeSet<ExpertId> = [id(5)].into();
    let req = Request { category: Television, location: at(CHICAGO.0, CHICAGO.1), exclude: &exclude, now: now() };

    let a = pool.assess(id(1), &req).expect("soft constraints may be overridden");
    assert!(a.reasons.iter().any(|r| r.starts_with("overridden: the ticket is outside their service area")), "{a:?}");
    assert!(a.runners_up.is_empty());
    let hard = |n, want: &str| match pool.assess(id(n), &req) {
        Err(NotAssignable::Hard(why)) => assert!(why.iter().any(|w| w.contains(want)), "{why:?}"),
        other => panic!("expert {n} should be refused: {other:?}"),
    };
    hard(2, "off duty");
    hard(3, "at capacity (3 of 3");
    hard(4, "not skilled in");
    hard(5, "already passed on this ticket");
    assert_eq!(pool.assess(id(9), &req), Err(NotAssignable::Unknown));
}

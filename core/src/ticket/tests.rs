//! The lifecycle's invariants, checked on hand-written paths and on random event
//! sequences.

use super::*;
use crate::ids::{ExpertId, TicketId};
use proptest::prelude::*;

fn experts() -> [ExpertId; 3] {
    [ExpertId::new(), ExpertId::new(), ExpertId::new()]
}

#[test]
fn the_happy_path_reaches_closed() {
    let [a, ..] = experts();
    let mut t = Ticket::new(TicketId::new());
    t.apply(TicketEvent::Assign { expert: a }).unwrap();
    t.apply(TicketEvent::Accept { by: a }).unwrap();
    let done = t.apply(TicketEvent::Complete { by: a }).unwrap();
    assert_eq!(done.released, Some(a));
    t.apply(TicketEvent::Close { reason: CloseReason::SurveyReceived }).unwrap();
    assert_eq!(t.status(), TicketStatus::Closed);
    assert_eq!(t.completed_by(), Some(a));
}

#[test]
fn a_decline_excludes_the_expert_for_good() {
    let [a, b, _] = experts();
    let mut t = Ticket::new(TicketId::new());
    t.apply(TicketEvent::Assign { expert: a }).unwrap();
    let tr = t.apply(TicketEvent::Decline { by: a }).unwrap();
    assert!(tr.needs_assignment);
    assert_eq!(t.status(), TicketStatus::Created);
    assert_eq!(t.apply(TicketEvent::Assign { expert: a }), Err(TransitionError::ExpertExcluded));
    t.apply(TicketEvent::Assign { expert: b }).unwrap();
    t.apply(TicketEvent::AcceptTimeout).unwrap();
    assert_eq!(t.excluded().len(), 2);
}

#[test]
fn a_deactivated_assignee_passes_the_ticket_on_even_after_accepting() {
    let [a, b, _] = experts();
    let mut t = Ticket::new(TicketId::new());
    t.apply(TicketEvent::Assign { expert: a }).unwrap();
    t.apply(TicketEvent::Accept { by: a }).unwrap();
    let tr = t.apply(TicketEvent::AssigneeGone).unwrap();
    assert_eq!((tr.released, tr.needs_assignment), (Some(a), true));
    assert_eq!((t.status(), t.assignee()), (TicketStatus::Created, None));
    assert_eq!(t.apply(TicketEvent::Assign { expert: a }), Err(TransitionError::ExpertExcluded));
    t.apply(TicketEvent::Assign { expert: b }).unwrap();
    // Nothing to pass on once it is done or before anyone holds it.
    t.apply(TicketEvent::Complete { by: b }).unwrap();
    assert!(t.apply(TicketEvent::AssigneeGone).is_err());
    assert!(Ticket::new(TicketId::new()).apply(TicketEvent::AssigneeGone).is_err());
}

#[test]
fn only_the_assignee_may_accept_or_complete() {
    let [a, b, _] = experts();
    let mut t = Ticket::new(TicketId::new());
    t.apply(TicketEvent::Assign { expert: a }).unwrap();
    assert_eq!(t.apply(TicketEvent::Accept { by: b }), Err(TransitionError::NotAssignee));
    assert_eq!(t.apply(TicketEvent::Complete { by: b }), Err(TransitionError::NotAssignee));
    assert_eq!(t.status(), TicketStatus::Assigned);
}

#[test]
fn a_late_completion_by_a_former_assignee_supersedes_the_reassignment() {
    let [a, b, _] = experts();
    let mut t = Ticket::new(TicketId::new());
    t.apply(TicketEvent::Assign { expert: a }).unwrap();
    t.apply(TicketEvent::AcceptTimeout).unwrap();
    t.apply(TicketEvent::Assign { expert: b }).unwrap();
    t.apply(TicketEvent::Accept { by: b }).unwrap();
    let tr = t.apply(TicketEvent::Complete { by: a }).unwrap();
    assert_eq!(tr.superseded, Some(b));
    assert_eq!(t.completed_by(), Some(a));
    assert_eq!(t.assignee(), None);
}

#[test]
fn completion_happens_once() {
    let [a, ..] = experts();
    let mut t = Ticket::new(TicketId::new());
    t.apply(TicketEvent::Assign { expert: a }).unwrap();
    t.apply(TicketEvent::Complete { by: a }).unwrap();
    assert!(t.apply(TicketEvent::Complete { by: a }).is_err());
}

#[test]
fn terminal_states_refuse_everything() {
    let [a, ..] = experts();
    let mut t = Ticket::new(TicketId::new());
    t.apply(TicketEvent::Cancel).unwrap();
    for ev in [
        TicketEvent::Assign { expert: a },
        TicketEvent::Accept { by: a },
        TicketEvent::Complete { by: a },
        TicketEvent::Cancel,
        TicketEvent::NoExpertFits,
    ] {
        assert!(t.apply(ev).is_err());
    }
}

#[test]
fn restore_refuses_unreachable_states() {
    let [a, ..] = experts();
    let id = TicketId::new();
    let none = Default::default();
    assert!(Ticket::restore(id, TicketStatus::Assigned, None, none, None, None).is_err());
    assert!(Ticket::restore(id, TicketStatus::Completed, None, Default::default(), None, None).is_err());
    assert!(Ticket::restore(id, TicketStatus::Accepted, Some(a), [a].into(), None, None).is_err());
    assert!(Ticket::restore(id, TicketStatus::Accepted, Some(a), Default::default(), None, None).is_ok());
}

#[test]
fn statuses_round_trip_through_their_names() {
    for s in TicketStatus::ALL {
        assert_eq!(s.as_str().parse::<TicketStatus>().unwrap(), s);
    }
    assert!("open".parse::<TicketStatus>().is_err());
}

fn event(pool: [ExpertId; 3]) -> impl Strategy<Value = TicketEvent> {
    let who = (0usize..3).prop_map(move |i| pool[i]);
    prop_oneof![
        who.clone().prop_map(|expert| TicketEvent::Assign { expert }),
        Just(TicketEvent::NoExpertFits),
        who.clone().prop_map(|by| TicketEvent::Accept { by }),
        who.clone().prop_map(|by| TicketEvent::Decline { by }),
        Just(TicketEvent::AcceptTimeout),
        Just(TicketEvent::Withdraw),
        who.prop_map(|by| TicketEvent::Complete { by }),
        Just(TicketEvent::Close { reason: CloseReason::SurveyReceived }),
        Just(TicketEvent::Close { reason: CloseReason::NoSurvey }),
        Just(TicketEvent::Cancel),
        Just(TicketEvent::AssigneeGone),
    ]
}

fn fixed_pool() -> [ExpertId; 3] {
    [1u128, 2, 3].map(|n| ExpertId::from_uuid(uuid::Uuid::from_u128(n)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]
    /// No sequence of events reaches an invalid state; refused events change nothing;
    /// a completion, once recorded, never changes; terminal states stay terminal.
    #[test]
    fn no_event_sequence_reaches_an_invalid_state(
        events in proptest::collection::vec(event(fixed_pool()), 1..60)
    ) {
        let mut t = Ticket::new(TicketId::new());
        let mut completed_by = None;
        for ev in events {
            let before = t.clone();
            match t.apply(ev.clone()) {
                Ok(tr) => {
                    prop_assert!(!before.status().is_terminal(), "left terminal {:?}", before.status());
                    prop_assert_eq!(tr.from, before.status());
                    prop_assert_eq!(tr.to, t.status());
                    if let Some(who) = completed_by {
                        prop_assert_eq!(t.completed_by(), Some(who), "completion changed");
                    }
                    if let TicketEvent::Assign { expert } = ev {
                        prop_assert!(!before.excluded().contains(&expert));
                    }
                }
                Err(_) => prop_assert_eq!(&t, &before, "a refused event changed the ticket"),
            }
            prop_assert!(t.check_invariants().is_ok(), "{:?} after {:?}", t.check_invariants(), ev);
            prop_assert!(before.excluded().is_subset(t.excluded()), "exclusions shrank");
            completed_by = completed_by.or(t.completed_by());
        }
    }
}

#[test]
fn a_withdrawn_ticket_waits_for_another_expert_and_its_former_one_may_still_complete_it() {
    let [a, b, _] = fixed_pool();
    let mut t = Ticket::new(TicketId::new());
    t.apply(TicketEvent::Assign { expert: a }).unwrap();
    t.apply(TicketEvent::Accept { by: a }).unwrap();
    let tr = t.apply(TicketEvent::Withdraw).unwrap();
    assert_eq!((tr.to, tr.released, tr.needs_assignment), (TicketStatus::Created, Some(a), true));
    assert_eq!(t.apply(TicketEvent::Assign { expert: a }), Err(TransitionError::ExpertExcluded));
    t.apply(TicketEvent::Assign { expert: b }).unwrap();
    let tr = t.apply(TicketEvent::Complete { by: a }).unwrap();
    assert_eq!((tr.superseded, t.completed_by()), (Some(b), Some(a)));
    assert!(t.clone().apply(TicketEvent::Withdraw).is_err(), "nothing to withdraw once completed");
}

use std::collections::{HashMap, HashSet};

use crate::{
    DialerId, DocSearchPhase, DocumentActorId,
    actors::hub::{
        dialer::{DialerState, DialerStatus},
        state::ActorInfo,
    },
};

pub(super) struct Searches {
    pub(super) phases: HashMap<DocumentActorId, DocSearchPhase>,
    pub(super) last_dialers: HashMap<DialerId, DialerStatus>,
    /// sysops patch: actors whose phase may have changed since the last pop.
    pub(super) touched: HashSet<DocumentActorId>,
}

impl Searches {
    pub(super) fn new() -> Self {
        Self {
            phases: HashMap::new(),
            last_dialers: HashMap::new(),
            touched: HashSet::new(),
        }
    }

    /// Notes that an actor's search phase may have changed.
    pub(super) fn touch(&mut self, actor: DocumentActorId) {
        self.touched.insert(actor);
    }

    /// sysops patch: forgets a closed document's actor.
    pub(super) fn remove(&mut self, actor: DocumentActorId) {
        self.phases.remove(&actor);
        self.touched.remove(&actor);
    }

    pub(super) fn add_search(&mut self, actor: DocumentActorId, phase: DocSearchPhase) {
        self.phases.insert(actor, phase);
    }

    pub(super) fn pop_state_updates(
        &mut self,
        actors: &HashMap<DocumentActorId, ActorInfo>,
        dialers: &HashMap<DialerId, DialerState>,
    ) -> HashMap<DocumentActorId, DocSearchPhase> {
        let new_dialer_state = dialers
            .iter()
            .map(|(dialer_id, state)| (*dialer_id, state.status.clone()))
            .collect::<HashMap<DialerId, DialerStatus>>();
        let dialers_changed = self.last_dialers != new_dialer_state;
        self.last_dialers = new_dialer_state;

        // sysops patch: this runs after every hub event. Unless the dialers changed
        // (every search hears of that), look only at the actors whose phase was set
        // since the last pop, and clone a phase only when it changed.
        let touched = std::mem::take(&mut self.touched);
        let mut result = HashMap::new();
        let mut check = |actor_id: &DocumentActorId, actor: &ActorInfo| {
            let changed = self.phases.get(actor_id) != Some(&actor.search_phase);
            if changed || dialers_changed {
                result.insert(*actor_id, actor.search_phase.clone());
            }
            if changed {
                self.phases.insert(*actor_id, actor.search_phase.clone());
            }
        };
        if dialers_changed {
            actors.iter().for_each(|(id, actor)| check(id, actor));
        } else {
            for id in &touched {
                if let Some(actor) = actors.get(id) {
                    check(id, actor);
                }
            }
        }
        result
    }
}

//! A capacity search started and stopped by hand in a run already going (the console's `f`): idle, it passes every note to the run's own view; searching, a `Driver` steers from the current level and hands the level back to the plan when it ends or is stopped.

use tokio::sync::mpsc;

use super::driver::Driver;
use super::FindConfig;
use crate::engine::Control;
use crate::run::RunModel;
use crate::session::{Note, View};
use crate::spec::plan::{Mode, Plan};

pub struct Steer<V: View> {
    /// The run's own view while no search runs.
    idle: Option<V>,
    search: Option<Driver<V>>,
    toggles: mpsc::UnboundedReceiver<()>,
    control: mpsc::UnboundedSender<Control>,
    base: FindConfig,
    max_connections: usize,
}

impl<V: View> Steer<V> {
    /// `toggles` carries the console's `f` presses.
    pub fn new(
        plan: &Plan,
        view: V,
        toggles: mpsc::UnboundedReceiver<()>,
        control: mpsc::UnboundedSender<Control>,
    ) -> Self {
        let closed = plan.load.mode == Mode::Closed;
        let mut base = plan
            .find
            .clone()
            .filter(|f| f.closed == closed)
            .unwrap_or_else(|| FindConfig::defaults(closed));
        if base.slo.is_empty() {
            base.slo = crate::spec::find::slo_of_thresholds(&plan.thresholds);
        }
        base.search.max = base.search.max.max(plan.load.peak_level());
        Steer {
            idle: Some(view),
            search: None,
            toggles,
            control,
            base,
            max_connections: plan.load.max_connections,
        }
    }

    fn toggle(&mut self, model: &mut RunModel) {
        if let Some(d) = self.search.take() {
            let finished = d.done();
            self.idle = Some(d.abandon());
            if !finished {
                if let Some(s) = model.search.as_mut() {
                    s.status = "search stopped by hand: the plan decides the level again".into();
                    s.short = "search stopped".into();
                    s.done = true;
                }
            }
            return;
        }
        if self.base.slo.is_empty() {
            model.search = Some(crate::run::search::SearchProgress {
                status: "no SLO to search by: add [thresholds] or [find] slo to the profile".into(),
                short: "no SLO".into(),
                done: true,
                unit: "req/s",
                ..Default::default()
            });
            return;
        }
        let Some(view) = self.idle.take() else {
            return;
        };
        let mut cfg = self.base.clone();
        cfg.search.start = model.level.max(1.0);
        cfg.search.max = cfg.search.max.max(cfg.search.start);
        let now = model.last().map_or_else(Default::default, |i| i.run_clock);
        self.search = Some(Driver::starting_at(
            cfg,
            self.control.clone(),
            self.max_connections,
            view,
            now,
            false,
        ));
    }
}

impl<V: View> View for Steer<V> {
    fn note(&mut self, note: &Note, model: &mut RunModel) {
        while self.toggles.try_recv().is_ok() {
            self.toggle(model);
        }
        match (&mut self.search, &mut self.idle) {
            (Some(d), _) => d.note(note, model),
            (None, Some(v)) => v.note(note, model),
            (None, None) => {}
        }
    }
}

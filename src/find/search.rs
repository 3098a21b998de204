//! The step controller: grow the level by a factor until a step fails, bisect between the highest pass and the lowest fail, then confirm; pure logic, no time, no I/O.
//!
//! After Nighthawk's adaptive load controller (exponential search, then
//! binary, then one long testing stage), with two additions: a failed
//! confirmation steps down and searches again, and a step in which the
//! generator was the limit ends the search without a capacity.

use serde::Serialize;

use crate::spec::find::SearchConfig;

/// How a step came out.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass,
    /// The SLO broke; the first criterion that did.
    Fail(String),
    /// rampdeck, not the target, was the limit: no verdict on the target.
    GeneratorLimited(String),
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Hold this level for one step.
    Step(f64),
    /// Hold the found level for the confirmation.
    Confirm(f64),
    Done(Outcome),
}

/// How the search ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The highest level that passed its confirmation.
    Found { level: f64 },
    /// Every step up to `max` passed: the capacity is above it.
    AboveMax { level: f64 },
    /// The first step failed: nothing sustainable at or above `start`.
    FirstStepFailed { level: f64, criterion: String },
    /// rampdeck was the limit at `level`; `passed` is the highest level
    /// that passed before (a lower bound, not a capacity).
    GeneratorLimited {
        level: f64,
        why: String,
        passed: Option<f64>,
    },
    /// No confirmation held within the step budget.
    NotConfirmed { passed: Option<f64> },
    /// The step budget ran out before the bounds met.
    OutOfSteps {
        passed: Option<f64>,
        failed: Option<f64>,
    },
}

/// Confirmations tried at most (each failed one steps down).
const MAX_CONFIRMS: u32 = 3;

#[derive(Debug, Clone)]
pub struct Search {
    cfg: SearchConfig,
    /// Highest level that passed (as a step, not yet confirmed).
    pass: Option<f64>,
    /// Lowest level that failed, and why.
    fail: Option<(f64, String)>,
    /// Every level that passed, so a failed confirmation can step down.
    passes: Vec<f64>,
    steps: u32,
    confirms: u32,
    /// The level being run and whether it is a confirmation.
    current: Option<(f64, bool)>,
}

impl Search {
    pub fn new(cfg: SearchConfig) -> Self {
        Search {
            cfg,
            pass: None,
            fail: None,
            passes: Vec::new(),
            steps: 0,
            confirms: 0,
            current: None,
        }
    }

    pub fn config(&self) -> &SearchConfig {
        &self.cfg
    }

    /// The first step.
    pub fn first(&mut self) -> Next {
        let l = self.level(self.cfg.start.min(self.cfg.max));
        self.run(l, false)
    }

    /// The current bounds: (highest pass, lowest fail).
    pub fn bounds(&self) -> (Option<f64>, Option<f64>) {
        (self.pass, self.fail.as_ref().map(|f| f.0))
    }

    pub fn steps_taken(&self) -> u32 {
        self.steps
    }

    fn level(&self, l: f64) -> f64 {
        if self.cfg.integer {
            l.round().max(1.0)
        } else {
            l
        }
    }

    fn run(&mut self, level: f64, confirm: bool) -> Next {
        self.steps += 1;
        self.current = Some((level, confirm));
        if confirm {
            self.confirms += 1;
            Next::Confirm(level)
        } else {
            Next::Step(level)
        }
    }

    fn out_of_steps(&self) -> bool {
        self.steps >= self.cfg.max_steps
    }

    /// Takes the verdict on the step just run; says what comes next.
    pub fn judge(&mut self, v: Verdict) -> Next {
        let Some((level, confirm)) = self.current.take() else {
            return self.first();
        };
        match v {
            Verdict::GeneratorLimited(why) => Next::Done(Outcome::GeneratorLimited {
                level,
                why,
                passed: self.pass,
            }),
            Verdict::Pass if confirm => Next::Done(Outcome::Found { level }),
            Verdict::Pass => {
                self.passes.push(level);
                self.pass = Some(self.pass.map_or(level, |p| p.max(level)));
                self.after_bounds_moved()
            }
            Verdict::Fail(criterion) => {
                if self.pass.is_none() && self.passes.is_empty() && !confirm {
                    return Next::Done(Outcome::FirstStepFailed { level, criterion });
                }
                if self.fail.as_ref().is_none_or(|f| level < f.0) {
                    self.fail = Some((level, criterion));
                }
                if confirm {
                    // The found level did not hold: the highest pass below it is next.
                    self.pass = self
                        .passes
                        .iter()
                        .copied()
                        .filter(|&p| p < level)
                        .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))));
                    if self.pass.is_none() || self.confirms >= MAX_CONFIRMS {
                        return Next::Done(Outcome::NotConfirmed { passed: self.pass });
                    }
                }
                self.after_bounds_moved()
            }
        }
    }

    fn after_bounds_moved(&mut self) -> Next {
        let Some(pass) = self.pass else {
            return Next::Done(Outcome::NotConfirmed { passed: None });
        };
        match &self.fail {
            None => {
                if pass >= self.cfg.max {
                    return Next::Done(Outcome::AboveMax { level: pass });
                }
                if self.out_of_steps() {
                    return Next::Done(Outcome::OutOfSteps {
                        passed: Some(pass),
                        failed: None,
                    });
                }
                let next = self.level((pass * self.cfg.factor).min(self.cfg.max));
                self.run(next, false)
            }
            Some((fail, _)) => {
                let fail = *fail;
                let converged = (fail - pass) / pass <= self.cfg.precision
                    || (self.cfg.integer && fail - pass <= 1.0);
                if converged {
                    // The confirmation is a step too, but it always gets its turn.
                    return self.run(pass, true);
                }
                if self.out_of_steps() {
                    return Next::Done(Outcome::OutOfSteps {
                        passed: Some(pass),
                        failed: Some(fail),
                    });
                }
                let mid = self.level((pass + fail) / 2.0);
                if mid <= pass || mid >= fail {
                    return self.run(pass, true);
                }
                self.run(mid, false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SearchConfig {
        SearchConfig {
            start: 100.0,
            max: 1e6,
            factor: 2.0,
            precision: 0.02,
            max_steps: 12,
            integer: false,
        }
    }

    /// Runs the search against a target whose capacity is `cap`.
    fn against(cap: f64, mut c: SearchConfig) -> (Outcome, Vec<f64>) {
        c.max_steps = c.max_steps.max(1);
        let mut s = Search::new(c);
        let mut levels = Vec::new();
        let mut next = s.first();
        loop {
            match next {
                Next::Step(l) | Next::Confirm(l) => {
                    levels.push(l);
                    next = s.judge(if l <= cap {
                        Verdict::Pass
                    } else {
                        Verdict::Fail("p99 < 50ms".into())
                    });
                }
                Next::Done(o) => return (o, levels),
            }
        }
    }

    #[test]
    fn doubles_then_bisects_to_within_the_precision_and_confirms() {
        let (o, levels) = against(1_000.0, cfg());
        assert_eq!(&levels[..5], &[100.0, 200.0, 400.0, 800.0, 1600.0]);
        let Outcome::Found { level } = o else {
            panic!("{o:?} after {levels:?}")
        };
        assert!((1_000.0 * 0.98..=1_000.0).contains(&level), "{level}");
        assert!(levels.len() <= 12, "{levels:?}");
    }

    #[test]
    fn a_failing_first_step_ends_the_search_with_its_criterion() {
        let (o, levels) = against(50.0, cfg());
        assert_eq!(levels, vec![100.0]);
        assert_eq!(
            o,
            Outcome::FirstStepFailed {
                level: 100.0,
                criterion: "p99 < 50ms".into()
            }
        );
    }

    #[test]
    fn passing_at_max_says_the_capacity_is_above_it() {
        let (o, _) = against(
            1e9,
            SearchConfig {
                max: 500.0,
                ..cfg()
            },
        );
        assert_eq!(o, Outcome::AboveMax { level: 500.0 });
    }

    #[test]
    fn a_failed_confirmation_steps_down() {
        // The target passes steps up to 1000 but cannot hold 950+ for long.
        let mut s = Search::new(SearchConfig {
            max_steps: 30,
            ..cfg()
        });
        let mut next = s.first();
        let mut confirms = Vec::new();
        for _ in 0..40 {
            next = match next {
                Next::Step(l) => s.judge(if l <= 1_000.0 {
                    Verdict::Pass
                } else {
                    Verdict::Fail("p99".into())
                }),
                Next::Confirm(l) => {
                    confirms.push(l);
                    s.judge(if l < 950.0 {
                        Verdict::Pass
                    } else {
                        Verdict::Fail("p99".into())
                    })
                }
                Next::Done(_) => break,
            };
        }
        assert!(confirms.len() >= 2, "{confirms:?}");
        assert!(confirms.windows(2).all(|w| w[1] < w[0]), "{confirms:?}");
    }

    #[test]
    fn the_generator_limit_is_not_a_capacity() {
        let mut s = Search::new(cfg());
        assert_eq!(s.first(), Next::Step(100.0));
        assert_eq!(s.judge(Verdict::Pass), Next::Step(200.0));
        let n = s.judge(Verdict::GeneratorLimited("pool".into()));
        assert_eq!(
            n,
            Next::Done(Outcome::GeneratorLimited {
                level: 200.0,
                why: "pool".into(),
                passed: Some(100.0)
            })
        );
    }

    #[test]
    fn concurrency_levels_are_whole_and_converge_to_one_apart() {
        let c = SearchConfig {
            start: 1.0,
            max: 1_000.0,
            integer: true,
            max_steps: 16,
            ..cfg()
        };
        let (o, levels) = against(37.0, c);
        assert!(levels.iter().all(|l| l.fract() == 0.0), "{levels:?}");
        assert_eq!(o, Outcome::Found { level: 37.0 });
    }
}

//! Control-plane CPU and memory during a scenario: the profile's sources, folded into max and average per component.

use std::collections::BTreeMap;

use serde::Serialize;

/// One component's readings over the scenario; serialized as its `ResourceSummary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(into = "ResourceSummary")]
pub struct ResourceStats {
    samples: u64,
    cpu: Acc,
    memory: Acc,
}

/// What scenario.json and the table show per component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceSummary {
    pub samples: u64,
    pub cpu_avg_cores: Option<f64>,
    pub cpu_max_cores: Option<f64>,
    pub memory_avg_bytes: Option<f64>,
    pub memory_max_bytes: Option<f64>,
}

impl ResourceStats {
    pub fn summary(&self) -> ResourceSummary {
        ResourceSummary {
            samples: self.samples,
            cpu_avg_cores: self.cpu.avg(),
            cpu_max_cores: self.cpu.max(),
            memory_avg_bytes: self.memory.avg(),
            memory_max_bytes: self.memory.max(),
        }
    }
}

impl From<ResourceStats> for ResourceSummary {
    fn from(s: ResourceStats) -> Self {
        s.summary()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Acc {
    sum: f64,
    n: u64,
    max: f64,
}

impl Acc {
    fn add(&mut self, v: f64) {
        self.sum += v;
        self.n += 1;
        self.max = self.max.max(v);
    }

    fn avg(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    fn max(&self) -> Option<f64> {
        (self.n > 0).then_some(self.max)
    }
}

/// Readings by component name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Resources(pub BTreeMap<String, ResourceStats>);

impl Resources {
    pub fn add(&mut self, component: &str, cpu: Option<f64>, memory: Option<f64>) {
        let s = self.0.entry(component.to_owned()).or_default();
        s.samples += 1;
        if let Some(c) = cpu.filter(|c| c.is_finite()) {
            s.cpu.add(c);
        }
        if let Some(m) = memory.filter(|m| m.is_finite()) {
            s.memory.add(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_and_average_per_component() {
        let mut r = Resources::default();
        r.add("istiod", Some(0.5), Some(100.0));
        r.add("istiod", Some(1.5), None);
        r.add("istiod", None, Some(300.0));
        let s = r.0["istiod"].summary();
        assert_eq!(s.samples, 3);
        assert_eq!(s.cpu_avg_cores, Some(1.0));
        assert_eq!(s.cpu_max_cores, Some(1.5));
        assert_eq!(s.memory_avg_bytes, Some(200.0));
        assert_eq!(s.memory_max_bytes, Some(300.0));
    }
}

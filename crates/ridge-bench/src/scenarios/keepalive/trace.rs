//! The synthetic trace of scenario 11, generated from a seed: each function's call times, in
//! seconds from the start, for four kinds of traffic seen in "Serverless in the Wild"'s Azure
//! trace: timers (periodic, with a little jitter), frequent calls (Poisson, a minute or two
//! apart), bursts (a few calls seconds apart, bursts tens of minutes apart) and rare calls
//! (Poisson, hours apart, often past the 4-hour histogram).

/// A function's kind of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Periodic,
    Frequent,
    Bursty,
    Rare,
}

impl Class {
    pub const ALL: [Class; 4] = [Class::Periodic, Class::Frequent, Class::Bursty, Class::Rare];

    pub fn name(self) -> &'static str {
        match self {
            Class::Periodic => "periodic",
            Class::Frequent => "frequent",
            Class::Bursty => "bursty",
            Class::Rare => "rare",
        }
    }
}

pub struct Function {
    pub class: Class,
    /// Call times, ascending.
    pub calls: Vec<f64>,
}

pub struct Trace {
    pub functions: Vec<Function>,
    /// Its length.
    pub seconds: f64,
}

/// SplitMix64: small, fast and the same everywhere, which is all a trace needs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// Exponential with this mean.
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// `functions` functions over `hours` hours: 30% periodic, 20% frequent, 30% bursty, 20% rare.
pub fn generate(seed: u64, functions: usize, hours: u32) -> Trace {
    let mut rng = Rng(seed);
    let end = f64::from(hours) * 3600.0;
    let functions = (0..functions)
        .map(|n| {
            let class = match n % 10 {
                0..=2 => Class::Periodic,
                3 | 4 => Class::Frequent,
                5..=7 => Class::Bursty,
                _ => Class::Rare,
            };
            let calls = calls(&mut rng, class, end);
            Function { class, calls }
        })
        .collect();
    Trace {
        functions,
        seconds: end,
    }
}

fn calls(rng: &mut Rng, class: Class, end: f64) -> Vec<f64> {
    let mut calls = Vec::new();
    match class {
        Class::Periodic => {
            let period: f64 =
                60.0 * rng.pick(&[2.0, 3.0, 5.0, 8.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0]);
            let jitter = (0.05 * period).min(30.0);
            let mut at = rng.between(0.0, period);
            while at < end {
                calls.push((at + rng.between(-jitter, jitter)).max(0.0));
                at += period;
            }
        }
        Class::Frequent => {
            let mean = rng.between(30.0, 180.0);
            let mut at = rng.exp(mean);
            while at < end {
                calls.push(at);
                at += rng.exp(mean);
            }
        }
        Class::Bursty => {
            let between = 60.0 * rng.between(20.0, 120.0);
            let mut at = rng.exp(between);
            while at < end {
                let size = 3 + rng.next() % 18;
                let mut t = at;
                for _ in 0..size {
                    if t >= end {
                        break;
                    }
                    calls.push(t);
                    t += rng.exp(5.0);
                }
                at = t + rng.exp(between);
            }
        }
        Class::Rare => {
            let mean = 3600.0 * rng.between(3.0, 12.0);
            let mut at = rng.exp(mean);
            while at < end {
                calls.push(at);
                at += rng.exp(mean);
            }
        }
    }
    calls.sort_by(f64::total_cmp);
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_trace_within_its_length() {
        let a = generate(7, 40, 24);
        let b = generate(7, 40, 24);
        assert_eq!(a.functions.len(), 40);
        for (x, y) in a.functions.iter().zip(&b.functions) {
            assert_eq!(x.calls, y.calls);
            assert!(x.calls.iter().all(|&t| (0.0..a.seconds).contains(&t)));
            assert!(x.calls.windows(2).all(|w| w[0] <= w[1]));
        }
        let periodic = &a.functions[0];
        assert_eq!(periodic.class, Class::Periodic);
        assert!(periodic.calls.len() >= 12, "at most 2 h apart over 24 h");
    }
}

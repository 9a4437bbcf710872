//! Holds back generated text that might be the start of a stop string, and cuts the text at the
//! first stop string, so that no part of a stop string is ever emitted.

pub(crate) struct StopStringFilter {
    stops: Vec<String>,
    pending: String,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Filtered {
    /// Text that can be emitted; generation goes on.
    Emit(String),
    /// A stop string was reached: emit this text (everything before it) and stop.
    Stop(String),
}

impl StopStringFilter {
    pub(crate) fn new(stops: &[String]) -> Self {
        let stops = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
        StopStringFilter {
            stops,
            pending: String::new(),
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> Filtered {
        self.pending.push_str(text);
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min()
        {
            let before = self.pending[..at].to_string();
            self.pending.clear();
            return Filtered::Stop(before);
        }
        let keep = self.longest_partial_match();
        let emit_len = self.pending.len() - keep;
        Filtered::Emit(self.pending.drain(..emit_len).collect())
    }

    /// Text still held back; call when generation ends for another reason.
    pub(crate) fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Length of the longest end of `pending` that is a proper prefix of some stop string.
    /// Such a prefix starts with a whole character, so the cut is on a character boundary.
    fn longest_partial_match(&self) -> usize {
        self.stops
            .iter()
            .flat_map(|stop| {
                (1..stop.len())
                    .rev()
                    .filter(|&k| stop.is_char_boundary(k))
                    .find(|&k| self.pending.ends_with(&stop[..k]))
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(stops: &[&str]) -> StopStringFilter {
        StopStringFilter::new(&stops.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn text_without_stops_passes_through() {
        let mut f = filter(&[]);
        assert_eq!(f.push("hello"), Filtered::Emit("hello".into()));
        assert_eq!(f.finish(), "");
    }

    #[test]
    fn possible_start_is_held_then_released() {
        let mut f = filter(&["\nUser:"]);
        assert_eq!(f.push("Hi\nUs"), Filtered::Emit("Hi".into()));
        assert_eq!(f.push("ually"), Filtered::Emit("\nUsually".into()));
    }

    #[test]
    fn stop_across_pieces_is_never_emitted() {
        let mut f = filter(&["STOP", "\n\n"]);
        assert_eq!(f.push("one ST"), Filtered::Emit("one ".into()));
        assert_eq!(f.push("O"), Filtered::Emit("".into()));
        assert_eq!(f.push("P and more"), Filtered::Stop("".into()));
    }

    #[test]
    fn earliest_stop_wins() {
        let mut f = filter(&["b", "a"]);
        assert_eq!(f.push("xaby"), Filtered::Stop("x".into()));
    }

    #[test]
    fn held_text_comes_back_at_finish_and_multibyte_is_cut_on_boundaries() {
        let mut f = filter(&["한국어"]);
        assert_eq!(f.push("말 한국"), Filtered::Emit("말 ".into()));
        assert_eq!(f.finish(), "한국");
    }
}

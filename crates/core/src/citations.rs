/// The source numbers an answer cites as `[n]` (also `[1, 2]` and `[1][3]`), in order of first mention,
/// keeping only numbers of sources that exist.
pub fn cited_sources(answer: &str, source_count: usize) -> Vec<usize> {
    let mut cited = Vec::new();
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { break };
        let inside = &rest[..close];
        let numbers: Option<Vec<usize>> =
            inside.split(',').map(|n| n.trim().parse().ok()).collect();
        for n in numbers.unwrap_or_default() {
            if (1..=source_count).contains(&n) && !cited.contains(&n) {
                cited.push(n);
            }
        }
        rest = &rest[close + 1..];
    }
    cited
}

#[cfg(test)]
mod tests {
    use super::cited_sources;

    #[test]
    fn finds_single_grouped_and_adjacent_citations() {
        assert_eq!(
            cited_sources("Paris [2]. Also [1, 3][2].", 3),
            vec![2, 1, 3]
        );
    }

    #[test]
    fn ignores_numbers_of_missing_sources_and_other_brackets() {
        assert_eq!(
            cited_sources("see [7] and [link] and [0] and [ 1 ]", 2),
            vec![1]
        );
        assert!(cited_sources("no citations", 2).is_empty());
    }
}

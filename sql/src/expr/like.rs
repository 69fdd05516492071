//! `LIKE` patterns as ksqlDB's `LikeEvaluator` has them: `%` is any run of characters, `_`
//! any one character (neither crosses a line terminator, as they become Java regex `.`),
//! and the escape character makes the next character literal.

/// A compiled LIKE pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LikePattern {
    tokens: Vec<Token>,
    shape: Shape,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Char(char),
    One,
    Many,
}

/// Fast paths for the common pattern shapes.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    General,
}

fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

impl LikePattern {
    /// Compiles `pattern`; a pattern ending in the escape character is an error.
    pub(crate) fn new(pattern: &str, escape: Option<char>) -> Result<LikePattern, String> {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut escaped = false;
        for c in pattern.chars() {
            if escaped {
                tokens.push(Token::Char(c));
                escaped = false;
            } else if Some(c) == escape {
                escaped = true;
            } else if c == '%' {
                if tokens.last() != Some(&Token::Many) {
                    tokens.push(Token::Many);
                }
            } else if c == '_' {
                tokens.push(Token::One);
            } else {
                tokens.push(Token::Char(c));
            }
        }
        if escaped {
            return Err("LIKE pattern must not end with escape character".into());
        }
        let shape = shape_of(&tokens);
        Ok(LikePattern { tokens, shape })
    }

    /// Whether `value` matches the whole pattern.
    pub(crate) fn matches(&self, value: &str) -> bool {
        let plain_text = || !value.contains(is_line_terminator);
        match &self.shape {
            Shape::Exact(s) => value == s,
            Shape::Prefix(s) => value.starts_with(s.as_str()) && plain_text_after(value, s.len()),
            Shape::Suffix(s) => {
                value.ends_with(s.as_str()) && plain_text_before(value, value.len() - s.len())
            }
            Shape::Contains(s) => {
                if plain_text() {
                    value.contains(s.as_str())
                } else {
                    self.general(value)
                }
            }
            Shape::General => self.general(value),
        }
    }

    /// Dynamic programming over (pattern position, text position).
    fn general(&self, value: &str) -> bool {
        let text: Vec<char> = value.chars().collect();
        let n = text.len();
        // cur[j]: pattern prefix matches text prefix of length j.
        let mut cur = vec![false; n + 1];
        cur[0] = true;
        for tok in &self.tokens {
            let mut next = vec![false; n + 1];
            match tok {
                Token::Char(c) => {
                    for j in 0..n {
                        if cur[j] && text[j] == *c {
                            next[j + 1] = true;
                        }
                    }
                }
                Token::One => {
                    for j in 0..n {
                        if cur[j] && !is_line_terminator(text[j]) {
                            next[j + 1] = true;
                        }
                    }
                }
                Token::Many => {
                    let mut reach = false;
                    for j in 0..=n {
                        if cur[j] {
                            reach = true;
                        }
                        if reach {
                            next[j] = true;
                        }
                        if j < n && is_line_terminator(text[j]) {
                            reach = false;
                        }
                    }
                }
            }
            cur = next;
        }
        cur[n]
    }
}

fn plain_text_after(value: &str, from: usize) -> bool {
    value
        .get(from..)
        .is_some_and(|rest| !rest.contains(is_line_terminator))
}

fn plain_text_before(value: &str, to: usize) -> bool {
    value
        .get(..to)
        .is_some_and(|rest| !rest.contains(is_line_terminator))
}

fn literal(tokens: &[Token]) -> Option<String> {
    tokens
        .iter()
        .map(|t| match t {
            Token::Char(c) => Some(*c),
            _ => None,
        })
        .collect()
}

fn shape_of(tokens: &[Token]) -> Shape {
    if let Some(s) = literal(tokens) {
        return Shape::Exact(s);
    }
    let starts = tokens.first() == Some(&Token::Many);
    let ends = tokens.last() == Some(&Token::Many);
    let inner_from = usize::from(starts);
    let inner_to = tokens.len() - usize::from(ends);
    if inner_from <= inner_to {
        if let Some(s) = literal(&tokens[inner_from..inner_to]) {
            return match (starts, ends) {
                (true, true) => Shape::Contains(s),
                (false, true) => Shape::Prefix(s),
                (true, false) => Shape::Suffix(s),
                (false, false) => Shape::Exact(s),
            };
        }
    }
    Shape::General
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(v: &str, p: &str, e: Option<char>) -> bool {
        LikePattern::new(p, e)
            .map(|p| p.matches(v))
            .unwrap_or(false)
    }

    #[test]
    fn wildcards() {
        assert!(like("barfoobaz", "%foo%", None));
        assert!(!like("bar", "foo", None));
        assert!(like("foo", "f_o", None));
        assert!(like("foobar", "%oba%", None));
        assert!(like("STATE_9", "%_9", None));
        assert!(like("", "%", None));
        assert!(!like("", "_", None));
        assert!(like("abc", "a%c", None));
        assert!(like("ac", "a%c", None));
        assert!(!like("ab", "a%c", None));
        assert!(like("a.c", "a.c", None));
        assert!(!like("abc", "a.c", None));
        assert!(like("this", "%hi%", None));
        assert!(like("xay", "%a%", None));
        assert!(like("aXbXc", "a%b%c", None));
    }

    #[test]
    fn wildcards_stop_at_line_terminators() {
        assert!(!like("a\nb", "a%b", None));
        assert!(!like("a\nb", "a_b", None));
        assert!(like("a\nb", "a\nb", None));
        assert!(!like("x\nfoo", "%foo%", None));
        assert!(!like("foo\n", "foo%", None));
    }

    #[test]
    fn escapes() {
        assert!(like("%", "!%", Some('!')));
        assert!(!like("x", "!%", Some('!')));
        assert!(like("a_b", "a!_b", Some('!')));
        assert!(!like("axb", "a!_b", Some('!')));
        assert!(like("a!b", "a!!b", Some('!')));
        assert!(LikePattern::new("ab!", Some('!')).is_err());
    }
}

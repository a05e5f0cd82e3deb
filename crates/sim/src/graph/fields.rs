//! The Graph `fields` parameter: a comma-separated list where each field may carry
//! modifiers and a nested list, e.g. `participants,messages.limit(50){id,from,message}`
//! [M1, PR1]. Modifiers may come before or after the nested list, as Graph accepts both.

use std::fmt;

/// One requested field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub name: String,
    pub modifiers: Vec<(String, String)>,
    pub children: Option<Vec<Field>>,
}

impl Field {
    pub(crate) fn modifier(&self, name: &str) -> Option<&str> {
        self.modifiers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a `fields` value. Errors name what was wrong, for the `(#100)` message.
pub(crate) fn parse(input: &str) -> Result<Vec<Field>, String> {
    let mut parser = Parser {
        chars: input.chars().collect(),
        at: 0,
    };
    let fields = parser.list()?;
    parser.skip_space();
    if parser.at != parser.chars.len() {
        return Err(format!(
            "Syntax error \"Expected end of string instead of \"{}\".\" at character {} in fields",
            parser.chars[parser.at], parser.at
        ));
    }
    Ok(fields)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn list(&mut self) -> Result<Vec<Field>, String> {
        let mut fields = vec![self.field()?];
        while self.eat(',') {
            fields.push(self.field()?);
        }
        Ok(fields)
    }

    fn ident(&mut self) -> Result<String, String> {
        self.skip_space();
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            self.at += 1;
        }
        if start == self.at {
            return Err(format!(
                "Syntax error: expected a field name at character {start} in fields"
            ));
        }
        Ok(self.chars[start..self.at].iter().collect())
    }

    fn field(&mut self) -> Result<Field, String> {
        let mut field = Field {
            name: self.ident()?,
            modifiers: Vec::new(),
            children: None,
        };
        loop {
            if self.eat('.') {
                let name = self.ident()?;
                if !self.eat('(') {
                    return Err(format!(
                        "Syntax error: expected \"(\" after modifier {name}"
                    ));
                }
                let start = self.at;
                while self.peek().is_some_and(|c| c != ')') {
                    self.at += 1;
                }
                let value: String = self.chars[start..self.at].iter().collect();
                if !self.eat(')') {
                    return Err(format!("Syntax error: unclosed modifier {name}"));
                }
                field.modifiers.push((name, value.trim().to_owned()));
            } else if self.eat('{') {
                if field.children.is_some() {
                    return Err(format!("Syntax error: two field lists for {}", field.name));
                }
                field.children = Some(self.list()?);
                if !self.eat('}') {
                    return Err(format!(
                        "Syntax error: unclosed \"{{\" after {}",
                        field.name
                    ));
                }
            } else {
                return Ok(field);
            }
        }
    }
}

/// Writes fields back in the syntax they were parsed from, for `next` URLs of nested edges.
pub(crate) struct Display<'a>(pub &'a [Field]);

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(&field.name)?;
            for (name, value) in &field.modifiers {
                write!(f, ".{name}({value})")?;
            }
            if let Some(children) = &field.children {
                write!(f, "{{{}}}", Display(children))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_fields_with_modifiers_parse_and_print_back() {
        let input = "id, participants,messages.limit(50){id,from,attachments{image_data}},comments{message}.summary(true).limit(0)";
        let fields = parse(input).unwrap();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[2].name, "messages");
        assert_eq!(fields[2].modifier("limit"), Some("50"));
        let children = fields[2].children.as_ref().unwrap();
        assert_eq!(children[2].children.as_ref().unwrap()[0].name, "image_data");
        assert_eq!(fields[3].modifier("summary"), Some("true"));
        assert_eq!(fields[3].modifier("limit"), Some("0"));
        let printed = Display(&fields).to_string();
        assert_eq!(parse(&printed).unwrap(), fields);
    }

    #[test]
    fn broken_syntax_is_an_error() {
        for bad in ["", "messages{id", "messages.limit(5", "a,,b", "a}"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

//! Reading a normalized statement far enough to suggest an index.
//!
//! The statements come from `pg_stat_statements` (`$1` placeholders, the
//! first caller's spelling), performance_schema digests (`?`, back-quoted
//! identifiers) and perfsage's own slow-log fingerprints (`?`, lower case).
//! This is not an SQL parser: it tokenizes, finds the one table a `SELECT`,
//! `UPDATE` or `DELETE` reads, and the `WHERE` conjuncts that compare a column
//! of that table with a value. Anything it cannot read with confidence (a
//! join, an `OR` at the top level, a sub-query, a function around the column)
//! gives no columns, and the rule then names the table without an index.

/// The table a statement reads and the columns an index should lead with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// As written, without quotes: `contacts` or `crm.contacts`.
    pub table: String,
    /// Equality columns first (in order of appearance), then at most one
    /// range column; empty when the predicates could not be read.
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Identifier or keyword, quotes removed; keywords compare case-insensitively.
    Word(String),
    /// A value: literal, placeholder (`?`, `$1`) or a collapsed list.
    Value,
    Op(String),
    Open,
    Close,
    Comma,
    Other,
}

fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '`' | '"' => {
                // A quoted identifier: one word, its quotes dropped.
                let end = chars[i + 1..].iter().position(|&d| d == c).map_or(chars.len(), |p| i + 1 + p);
                let word: String = chars[i + 1..end.min(chars.len())].iter().collect();
                push_word(&mut tokens, word);
                i = end + 1;
            }
            '\'' => {
                let mut j = i + 1;
                while j < chars.len() {
                    if chars[j] == '\'' && chars.get(j + 1) == Some(&'\'') {
                        j += 2;
                    } else if chars[j] == '\'' {
                        break;
                    } else {
                        j += 1;
                    }
                }
                tokens.push(Token::Value);
                i = j + 1;
            }
            '?' => {
                tokens.push(Token::Value);
                i += 1;
                // `?+`: a collapsed list in perfsage's fingerprints.
                if chars.get(i) == Some(&'+') {
                    i += 1;
                }
            }
            '$' if chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                i += 1;
                while chars.get(i).is_some_and(char::is_ascii_digit) {
                    i += 1;
                }
                tokens.push(Token::Value);
            }
            c if c.is_ascii_digit() => {
                while chars.get(i).is_some_and(|d| d.is_ascii_alphanumeric() || *d == '.') {
                    i += 1;
                }
                tokens.push(Token::Value);
            }
            c if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while chars.get(i).is_some_and(|d| d.is_alphanumeric() || *d == '_' || *d == '$') {
                    i += 1;
                }
                push_word(&mut tokens, chars[start..i].iter().collect());
            }
            '.' => {
                // Join `schema . table` (digests space it out) into one qualified word.
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if let (Some(Token::Word(left)), Some(next)) = (tokens.last_mut(), next)
                    && (*next == '`' || *next == '"' || next.is_alphanumeric() || *next == '_')
                {
                    left.push('.');
                    i += 1;
                    continue;
                }
                // `...`: a truncated digest or a collapsed list.
                while chars.get(i) == Some(&'.') {
                    i += 1;
                }
                tokens.push(Token::Value);
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '=' | '<' | '>' | '!' => {
                let mut op = c.to_string();
                if let Some(&d) = chars.get(i + 1)
                    && (d == '=' || (c == '<' && d == '>'))
                {
                    op.push(d);
                }
                i += op.len();
                tokens.push(Token::Op(op));
            }
            _ => {
                tokens.push(Token::Other);
                i += 1;
            }
        }
    }
    tokens
}

/// A word right after a `schema.` word continues it (`crm.` + `contacts`).
fn push_word(tokens: &mut Vec<Token>, word: String) {
    if let Some(Token::Word(left)) = tokens.last_mut()
        && left.ends_with('.')
    {
        left.push_str(&word);
        return;
    }
    tokens.push(Token::Word(word));
}

fn is(token: Option<&Token>, keyword: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
}

/// Words that end a `FROM` item or a `WHERE` clause.
const CLAUSE_END: &[&str] = &["group", "order", "limit", "having", "for", "returning", "union", "offset", "window"];
const NOT_AN_ALIAS: &[&str] = &["where", "join", "inner", "left", "right", "full", "cross", "natural", "set", "using"];

/// The table `text` reads and the columns an index on it should have, if the
/// statement is simple enough to tell.
pub fn access(text: &str) -> Option<Access> {
    let tokens = tokenize(text);
    let first = match tokens.first()? {
        Token::Word(w) => w.to_ascii_lowercase(),
        _ => return None,
    };
    // Where the table name is: after FROM (select, delete) or UPDATE.
    let table_at = match first.as_str() {
        "select" => tokens.iter().position(|t| is(Some(t), "from"))? + 1,
        "delete" => tokens.iter().position(|t| is(Some(t), "from"))? + 1,
        "update" => 1,
        _ => return None,
    };
    let table = match tokens.get(table_at)? {
        Token::Word(w) if !w.ends_with('.') => w.clone(),
        _ => return None,
    };
    // An optional alias, then the FROM item must end: a join or a second table is not read.
    let mut at = table_at + 1;
    let mut names = vec![table.to_ascii_lowercase(), unqualified(&table).to_ascii_lowercase()];
    if is(tokens.get(at), "as") {
        at += 1;
    }
    if let Some(Token::Word(alias)) = tokens.get(at) {
        let lower = alias.to_ascii_lowercase();
        if !NOT_AN_ALIAS.contains(&lower.as_str()) && !CLAUSE_END.contains(&lower.as_str()) {
            names.push(lower);
            at += 1;
        }
    }
    let next = tokens.get(at);
    let joins = matches!(next, Some(Token::Comma))
        || NOT_AN_ALIAS[1..8].iter().any(|k| is(next, k))
        || tokens[table_at..].iter().any(|t| is(Some(t), "join"));
    if joins {
        return None;
    }
    let columns = tokens
        .iter()
        .position(|t| is(Some(t), "where"))
        .map(|w| where_columns(&tokens[w + 1..], &names))
        .unwrap_or_default();
    Some(Access { table, columns })
}

fn unqualified(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// The index columns of a `WHERE` clause: equality columns, then one range
/// column; none when the clause has a top-level `OR` or cannot be read.
fn where_columns(tokens: &[Token], table_names: &[String]) -> Vec<String> {
    let end = tokens.iter().position(|t| CLAUSE_END.iter().any(|k| is(Some(t), k))).unwrap_or(tokens.len());
    let clause = &tokens[..end];
    // Split on top-level AND (the AND of BETWEEN x AND y belongs to its conjunct).
    let mut conjuncts: Vec<&[Token]> = Vec::new();
    let (mut depth, mut start, mut between) = (0i32, 0, false);
    for (i, token) in clause.iter().enumerate() {
        match token {
            Token::Open => depth += 1,
            Token::Close => depth -= 1,
            t if depth == 0 && is(Some(t), "or") => return Vec::new(),
            t if depth == 0 && is(Some(t), "between") => between = true,
            t if depth == 0 && is(Some(t), "and") => {
                if between {
                    between = false;
                } else {
                    conjuncts.push(&clause[start..i]);
                    start = i + 1;
                }
            }
            _ => {}
        }
    }
    conjuncts.push(&clause[start..]);

    let mut equal: Vec<String> = Vec::new();
    let mut range: Option<String> = None;
    for conjunct in conjuncts {
        let Some((column, kind)) = comparison(conjunct, table_names) else { continue };
        let column = column.to_ascii_lowercase();
        match kind {
            Kind::Equal if !equal.contains(&column) => equal.push(column),
            Kind::Range if range.is_none() && !equal.contains(&column) => range = Some(column),
            _ => {}
        }
    }
    // A range column after the first one would not be used by a B-tree anyway.
    equal.truncate(3);
    equal.extend(range.filter(|_| equal.len() < 3));
    equal
}

enum Kind {
    Equal,
    Range,
}

/// `column OP value` (or `alias.column ...`), the column of the statement's table.
fn comparison(tokens: &[Token], table_names: &[String]) -> Option<(String, Kind)> {
    let Some(Token::Word(word)) = tokens.first() else { return None };
    let column = match word.rsplit_once('.') {
        Some((qualifier, column)) if table_names.contains(&qualifier.to_ascii_lowercase()) => column,
        Some(_) => return None,
        None => word.as_str(),
    };
    if column.is_empty() || is(tokens.first(), "not") || is(tokens.first(), "exists") {
        return None;
    }
    let rest = &tokens[1..];
    let value_follows = |at: usize| matches!(rest.get(at), Some(Token::Value));
    let kind = match rest.first()? {
        Token::Op(op) if op == "=" && value_follows(1) => Kind::Equal,
        Token::Op(op) if ["<", ">", "<=", ">="].contains(&op.as_str()) && value_follows(1) => Kind::Range,
        t if is(Some(t), "in") && matches!(rest.get(1), Some(Token::Open)) && value_follows(2) => Kind::Equal,
        t if is(Some(t), "is") && is(rest.get(1), "null") => Kind::Equal,
        t if is(Some(t), "between") && value_follows(1) => Kind::Range,
        t if is(Some(t), "like") && value_follows(1) => Kind::Range,
        _ => return None,
    };
    // The comparison must be the whole conjunct (no `a = ? + b`).
    let used = match kind {
        Kind::Equal if is(rest.first(), "in") => return Some((column.to_owned(), kind)),
        _ if is(rest.first(), "between") => 5,
        _ if is(rest.first(), "is") => 3,
        _ => 3,
    };
    (tokens.len() == used).then(|| (column.to_owned(), kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(text: &str) -> Option<(String, Vec<String>)> {
        access(text).map(|a| (a.table, a.columns))
    }

    fn read(table: &str, columns: &[&str]) -> Option<(String, Vec<String>)> {
        Some((table.to_owned(), columns.iter().map(|c| c.to_string()).collect()))
    }

    #[test]
    fn postgres_statements_with_numbered_placeholders() {
        assert_eq!(columns("select id, email from contacts where email = $1"), read("contacts", &["email"]));
        assert_eq!(
            columns("SELECT * FROM public.deals d WHERE d.account_id = $1 AND d.closed_at > $2 ORDER BY d.id LIMIT $3"),
            read("public.deals", &["account_id", "closed_at"])
        );
        assert_eq!(
            columns("update activities set done = $1 where contact_id = $2 and kind = $3"),
            read("activities", &["contact_id", "kind"])
        );
        assert_eq!(columns("delete from activities where created_at < $1"), read("activities", &["created_at"]));
    }

    #[test]
    fn mariadb_digests_with_back_quotes_and_collapsed_lists() {
        assert_eq!(
            columns("SELECT `id` , `email` FROM `crm` . `contacts` WHERE `email` = ?"),
            read("crm.contacts", &["email"])
        );
        assert_eq!(
            columns("SELECT * FROM `deals` WHERE `stage` IN (...) AND `account_id` = ?"),
            read("deals", &["stage", "account_id"])
        );
        assert_eq!(
            columns("select * from deals where amount between ? and ? and stage = ?"),
            read("deals", &["stage", "amount"])
        );
        assert_eq!(columns("select * from t where id in (?+)"), read("t", &["id"]));
    }

    #[test]
    fn equality_columns_lead_and_only_one_range_follows() {
        assert_eq!(
            columns("select * from deals where amount > ? and created_at < ? and owner_id = ?"),
            read("deals", &["owner_id", "amount"])
        );
    }

    #[test]
    fn what_cannot_be_read_gives_the_table_without_columns() {
        assert_eq!(columns("select * from deals where stage = ? or owner_id = ?"), read("deals", &[]));
        assert_eq!(columns("select * from deals where lower(name) = ?"), read("deals", &[]));
        assert_eq!(columns("select count(*) from deals"), read("deals", &[]));
        assert_eq!(columns("select * from deals where amount = ? + 1"), read("deals", &[]));
    }

    #[test]
    fn joins_and_other_statements_are_not_read() {
        assert_eq!(columns("select * from deals d join accounts a on a.id = d.account_id where a.name = ?"), None);
        assert_eq!(columns("select * from deals, accounts where deals.account_id = accounts.id"), None);
        assert_eq!(columns("insert into deals values (?+)"), None);
        assert_eq!(columns("BEGIN"), None);
        assert_eq!(columns(""), None);
    }

    #[test]
    fn garbage_never_panics() {
        for text in ["select", "select * from", "select * from `unterminated", "'", "$", "select * from t where (", "."]
        {
            let _ = access(text);
        }
    }
}

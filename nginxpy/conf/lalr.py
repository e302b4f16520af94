"""The LALR(1) tables of ``grammar/nginx.lark``, as Lark computes them, in plain data.

Lark analyses the grammar (terminals, rules, LALR states); :func:`from_grammar` turns
its result into a :class:`Table` of strings, ints and dicts with a canonical state
numbering, so that the same grammar always gives the same table.
``tools/gen_grammar_table.py`` writes that table to ``nginxpy/conf/grammar_table.json``,
together with the grammar text it was made from, and a test checks that it matches
the grammar file.  The parser then needs neither Lark nor its grammar analysis at run
time (importing Lark alone costs some 8 MB); when the grammar file differs from the
one the table was made from, the parser analyses the grammar with Lark instead.
"""

from __future__ import annotations

import json
from typing import NamedTuple

SHIFT, REDUCE = 0, 1


class Table(NamedTuple):
    # (name, regular expression), in the order the lexer tries them (Lark's: priority,
    # then longest possible match, then longest pattern, then name)
    terminals: tuple[tuple[str, str], ...]
    ignore: tuple[str, ...]  # terminals that are skipped (the lexer callback still sees them)
    rules: tuple[tuple[str, int], ...]  # (the rule's name, how many symbols it reduces)
    # per state: symbol -> (SHIFT, next state) or (REDUCE, rule index); a rule name's
    # entry is the state after a reduction to it (the goto)
    states: tuple[dict[str, tuple[int, int]], ...]
    start: int  # the state the parse of "start" begins in
    end: int  # the state after "start" is reduced at the end of the input


def from_grammar(grammar: str, start: str = "start") -> Table:
    """Analyse the grammar with Lark and keep what the parser for `start` needs."""
    import lark
    from lark.grammar import Rule

    parser = lark.Lark(grammar, parser="lalr", start=[start, "words"], lexer="contextual")
    table = parser.parser.parser.parser.parse_table
    terminals = sorted(
        parser.terminals,
        key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name),
    )
    # Canonical numbering: breadth first from the start state, symbols in name order.
    order = [table.start_states[start]]
    number = {order[0]: 0}
    for state in order:
        for symbol in sorted(table.states[state]):
            action, arg = table.states[state][symbol]
            if action.name == "Shift" and arg not in number:
                number[arg] = len(order)
                order.append(arg)
    end = table.end_states[start]
    if end not in number:
        number[end] = len(order)
        order.append(end)
    used: set[Rule] = {
        arg for state in order for action, arg in table.states[state].values() if action.name == "Reduce"
    }
    for rule in used:
        # the parser hands every symbol of a rule to its callback: none may be filtered out
        assert not rule.options.expand1 and all(not sym.name.startswith("_") for sym in rule.expansion), rule
    rules = sorted(used, key=lambda rule: (rule.origin.name, [sym.name for sym in rule.expansion]))
    rule_index = {rule: index for index, rule in enumerate(rules)}
    states = []
    for state in order:
        actions: dict[str, tuple[int, int]] = {}
        for symbol in sorted(table.states[state]):
            action, arg = table.states[state][symbol]
            if action.name == "Shift":
                actions[str(symbol)] = (SHIFT, number[arg])
            else:
                actions[str(symbol)] = (REDUCE, rule_index[arg])
        states.append(actions)
    return Table(
        terminals=tuple((str(t.name), t.pattern.to_regexp()) for t in terminals),
        ignore=tuple(str(name) for name in parser.lexer_conf.ignore),
        rules=tuple((str(rule.origin.name), len(rule.expansion)) for rule in rules),
        states=tuple(states),
        start=0,
        end=number[end],
    )


def to_json(table: Table, grammar: str) -> str:
    """The text of nginxpy/conf/grammar_table.json: the table and the grammar it is made from."""
    data = {"grammar": grammar, **table._asdict()}
    return json.dumps(data, indent=0, ensure_ascii=True) + "\n"


def from_json(text: str) -> tuple[Table, str]:
    """The table of grammar_table.json, and the grammar it was made from."""
    data = json.loads(text)
    grammar = data.pop("grammar")
    table = Table(
        terminals=tuple((name, regexp) for name, regexp in data["terminals"]),
        ignore=tuple(data["ignore"]),
        rules=tuple((name, size) for name, size in data["rules"]),
        states=tuple(
            {symbol: (action, arg) for symbol, (action, arg) in actions.items()} for actions in data["states"]
        ),
        start=data["start"],
        end=data["end"],
    )
    return table, grammar

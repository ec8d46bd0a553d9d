"""Sphinx extension: the CLI reference, generated from the argparse parsers.

``.. denoisebench-cli::`` (in MyST: a ``{denoisebench-cli}`` fence) walks
:func:`denoisebench.cli.build_parser` and its sub-parsers and emits, per command, a
section with its usage, description and every argument with its help text, exactly as
``denoisebench COMMAND --help`` prints them: the options are written once, in the parsers.

Options: ``:module:`` and ``:func:`` name the parser factory (defaults
``denoisebench.cli`` and ``build_parser``).
"""
from __future__ import annotations

import argparse
import importlib
import os

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_id

#: Width at which argparse wraps the usage lines (argparse reads $COLUMNS).
USAGE_WIDTH = 100


def _subparsers(parser):
    """(name, one-line help, sub-parser) of each sub-command, in the order ``--help`` lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            return [(name, helps.get(name), sub) for name, sub in action.choices.items()]
    return []


def _usage(parser):
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(USAGE_WIDTH)
    try:
        return parser.format_usage().strip()
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


def _arguments(parser):
    """(invocation, expanded help) of every argument, ``--help`` and sub-command lists left out."""
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        invocation = formatter._format_action_invocation(action)
        text = formatter._expand_help(action) if action.help else ""
        rows.append((invocation, " ".join(text.split())))
    return rows


class DenoisebenchCli(SphinxDirective):
    """Emit the reference of a command-line program from its argparse parser."""

    has_content = False
    option_spec = {"module": directives.unchanged, "func": directives.unchanged}

    def run(self):
        module = importlib.import_module(self.options.get("module", "denoisebench.cli"))
        parser = getattr(module, self.options.get("func", "build_parser"))()
        out = self._body(parser)
        for name, summary, sub in _subparsers(parser):
            section = nodes.section(ids=[make_id(self.env, self.state.document, "cli", name)])
            section += nodes.title(text=sub.prog)
            if summary:
                section += nodes.paragraph(text=summary[0].upper() + summary[1:] + ".")
            section.extend(self._body(sub))
            out.append(section)
        return out

    def _body(self, parser):
        body = [nodes.literal_block(text=_usage(parser), language="none")]
        if parser.description:
            body.append(nodes.paragraph(text=" ".join(parser.description.split())))
        rows = _arguments(parser)
        if rows:
            items = nodes.definition_list(classes=["cli-arguments"])
            for invocation, text in rows:
                item = nodes.definition_list_item()
                item += nodes.term("", "", nodes.literal(text=invocation))
                item += nodes.definition("", nodes.paragraph(text=text or "(no help text)"))
                items += item
            body.append(items)
        if parser.epilog:
            body.append(nodes.paragraph(text=" ".join(parser.epilog.split())))
        return body


def setup(app):
    app.add_directive("denoisebench-cli", DenoisebenchCli)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

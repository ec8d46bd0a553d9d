"""Sphinx extension: Markdown links that work both on GitHub and in the built site.

The pages under ``docs/`` and the reports under ``reports/`` are plain Markdown that must read
well in the repository too, so they link files by their path in the repository
(``../reports/unet.md``, ``results.csv``, ``theory.md#s17``).  This transform, run when a
document is read, makes each of those a link of the site:

* a link to a report that has a page in the site (``docs/reports/<same path>``, a wrapper that
  includes it) goes to that page, not to a download of the Markdown source;
* a link inside an included report is resolved against the report's own folder (MyST resolves it
  against the wrapper page's folder): a data file beside the report (``results.csv``) becomes a
  download link;
* a raw HTML anchor ``<a id="s17"></a>`` (the form GitHub renders) becomes a target that MyST knows,
  so that ``theory.md#s17`` resolves without a warning.
"""
from __future__ import annotations

import os
import re

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms import SphinxTransform

ANCHOR = re.compile(r'^\s*<a\s+(?:id|name)="([A-Za-z][\w.-]*)"\s*>\s*(</a>)?\s*$')
CLOSE = re.compile(r"^\s*</a>\s*$")


class RepositoryLinks(SphinxTransform):
    default_priority = 200  # before docutils' target propagation (260)

    def apply(self, **kwargs):
        env = self.env
        srcdir = os.path.abspath(env.srcdir)
        repo = os.path.dirname(srcdir)
        doc_source = os.path.abspath(env.doc2path(env.docname))

        for raw in list(self.document.findall(nodes.raw)):
            match = ANCHOR.match(raw.astext()) if "html" in raw.get("format", "").split() else None
            if not match:
                continue
            parent = raw.parent
            if not match.group(2):  # MyST splits inline HTML: the closing tag is the next raw node
                after = raw.next_node(descend=False, siblings=True)
                if not (isinstance(after, nodes.raw) and CLOSE.match(after.astext())):
                    continue
                parent.remove(after)
            anchor = match.group(1)
            target = nodes.target("", "", ids=[anchor])
            raw.replace_self(target)
            if isinstance(parent, nodes.paragraph) and len(parent.children) == 1 and parent.parent is not None:
                parent.replace_self(target)  # an anchor alone in its paragraph: no empty <p>
            self.document.ids.setdefault(anchor, target)
            # MyST resolves `page.md#id` through the page's heading slugs: record the anchor there, titled
            # by the section it stands before (if any), so that `theory.md#s17` links to it.
            section = target.next_node(nodes.section, include_self=False, descend=False, siblings=True, ascend=True)
            title = section[0].astext() if section is not None and len(section) else ""
            slugs = env.metadata[env.docname].setdefault("myst_slugs", {})
            slugs.setdefault(anchor, (target.line or raw.line or 0, anchor, title))

        def as_doc(path):
            """The docname of a site page for the repository file ``path`` (or None)."""
            path = os.path.abspath(path)
            candidates = [path]
            if path.startswith(os.path.join(repo, "reports") + os.sep):
                candidates.append(os.path.join(srcdir, os.path.relpath(path, repo)))
            for candidate in candidates:
                if candidate.startswith(srcdir + os.sep) and os.path.isfile(candidate):
                    docname = env.path2doc(candidate)
                    if docname:
                        return docname
            return None

        def doc_xref(node, docname, anchor):
            new = addnodes.pending_xref("", refdomain="doc", reftarget=docname, reftargetid=anchor or None,
                                        refdoc=env.docname, reftype="myst", refexplicit=node.get("refexplicit", True))
            new.source, new.line = node.source, node.line
            new.extend(child.deepcopy() for child in node.children)
            return new

        def download(node, path):
            new = addnodes.download_reference("", refdomain=None, reftype="myst", refdoc=env.docname,
                                              reftarget=os.path.relpath(path, os.path.dirname(doc_source)),
                                              refexplicit=node.get("refexplicit", True))
            new.source, new.line = node.source, node.line
            new.extend(child.deepcopy() for child in node.children)
            return new

        # MyST makes a link to a Markdown file outside docs/ a reference to a document that does not exist
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst" or node.get("refdomain") != "doc" or node["reftarget"] in env.found_docs:
                continue
            base = node["reftarget"]
            base = base if os.path.isabs(base) else os.path.join(srcdir, base)
            for suffix in env.config.source_suffix:
                if os.path.isfile(base + suffix):
                    docname = as_doc(base + suffix)
                    node.replace_self(doc_xref(node, docname, node.get("reftargetid")) if docname
                                      else download(node, base + suffix))
                    break

        for node in list(self.document.findall(addnodes.download_reference)):
            if node.get("reftype") != "myst":
                continue
            _, path = env.relfn2path(node["reftarget"], env.docname)
            docname = as_doc(path)
            if docname:
                node.replace_self(doc_xref(node, docname, None))

        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst" or node.get("refdomain") or not node.source:
                continue
            source = os.path.abspath(node.source)
            if source == doc_source or not os.path.isfile(source):
                continue  # only links inside an included file are re-resolved
            target, _, anchor = node["reftarget"].partition("#")
            if not target or "://" in target:
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(source), target))
            docname = as_doc(path)
            if docname:
                node.replace_self(doc_xref(node, docname, anchor))
            elif os.path.isfile(path):
                node.replace_self(download(node, path))


def setup(app):
    app.add_transform(RepositoryLinks)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

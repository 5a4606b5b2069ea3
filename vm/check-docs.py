#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check that the documentation and the sources' kernel-doc agree.

    check-docs.py [TOP]

Run by make docs (vm/docs.sh) before Sphinx. It fails when:

- a DOC: section of the kernel sources (gpusvm/, vsvm/, include/) is pulled
  into no page of Documentation/: every one must be, with a kernel-doc
  directive naming it (":doc: TITLE") or the whole file;
- a kernel-doc directive names a file that does not exist, a DOC: title that
  its file does not have, or an identifier (":functions:", ":identifiers:",
  ":no-identifiers:") that has no kernel-doc comment in its file. kernel-doc
  reports a missing DOC: title itself, but not one missing identifier among
  several found ones.
"""

import os
import re
import subprocess
import sys

SOURCE_DIRS = ('gpusvm', 'vsvm', 'include')

# The first line of a kernel-doc comment: "/**" alone, then the name line.
DOC_TITLE = re.compile(r'^/\*\*\s*\n\s*\*\s*DOC:\s*(.*?)\s*$', re.M)
# The name line of a kernel-doc comment of an identifier: "name() - ...",
# "struct name - ...", "NAME - ..." (a macro), "enum name - ...".
KDOC_NAME = re.compile(
    r'^/\*\*\s*\n\s*\*\s*(?:(?:struct|union|enum|typedef)\s+)?'
    r'([A-Za-z_]\w*)\s*(?:\(\))?\s*(?:-|:|$)', re.M)
DIRECTIVE = re.compile(r'^(\s*)\.\.\s+kernel-doc::\s*(\S+)\s*$')
OPTION = re.compile(r'^\s+:([\w-]+):\s*(.*?)\s*$')


def source_files(top):
    """The kernel sources: in git, or new and not ignored (or on disk)."""
    try:
        out = subprocess.run(['git', '-C', top, 'ls-files', '--cached',
                              '--others', '--exclude-standard', '--',
                              *SOURCE_DIRS],
                             check=True, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
        files = out.split()
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d in SOURCE_DIRS:
            for root, _, names in os.walk(os.path.join(top, d)):
                files += [os.path.relpath(os.path.join(root, n), top)
                          for n in names]
    return sorted(f for f in files if f.endswith(('.c', '.h')))


def read(top, path):
    with open(os.path.join(top, path), encoding='utf-8') as f:
        return f.read()


def directives(top):
    """Yield (rst file, line, source path, {option: value}) per directive."""
    docdir = os.path.join(top, 'Documentation')
    for root, _, names in os.walk(docdir):
        for name in sorted(names):
            if not name.endswith('.rst'):
                continue
            rst = os.path.relpath(os.path.join(root, name), top)
            lines = read(top, rst).splitlines()
            i = 0
            while i < len(lines):
                m = DIRECTIVE.match(lines[i])
                i += 1
                if not m:
                    continue
                lineno, indent, path, opts = i, len(m.group(1)), m.group(2), {}
                last = None
                while i < len(lines) and lines[i].strip():
                    line = lines[i]
                    if len(line) - len(line.lstrip()) <= indent:
                        break
                    o = OPTION.match(line)
                    if o:
                        last = o.group(1)
                        opts[last] = o.group(2)
                    elif last:       # an option value continued
                        opts[last] += ' ' + line.strip()
                    i += 1
                yield rst, lineno, path, opts


def main():
    top = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                          os.path.join(os.path.dirname(__file__), '..'))
    errors = []
    sections = {}       # (file, title) -> pulled in
    for f in source_files(top):
        for title in DOC_TITLE.findall(read(top, f)):
            sections[(f, title)] = False
    if not sections:
        errors.append('no DOC: sections found in %s' % ', '.join(SOURCE_DIRS))

    count = 0
    for rst, lineno, path, opts in directives(top):
        count += 1
        where = '%s:%d' % (rst, lineno)
        if not os.path.isfile(os.path.join(top, path)):
            errors.append('%s: kernel-doc of %s: no such file' % (where, path))
            continue
        if 'doc' in opts:
            key = (path, opts['doc'])
            if key in sections:
                sections[key] = True
            else:
                errors.append('%s: %s has no "DOC: %s"' % (where, path,
                                                           opts['doc']))
        elif not {'export', 'internal', 'functions',
                  'identifiers'} & opts.keys():
            # The whole file, DOC: sections included.
            for key in sections:
                if key[0] == path:
                    sections[key] = True
        names = set(KDOC_NAME.findall(read(top, path)))
        for opt in ('functions', 'identifiers', 'no-identifiers'):
            for ident in opts.get(opt, '').split():
                if ident not in names:
                    errors.append('%s: %s has no kernel-doc of %s' %
                                  (where, path, ident))

    for (path, title), pulled in sorted(sections.items()):
        if not pulled:
            errors.append('%s: "DOC: %s" is in no page of Documentation/ '
                          '(add a kernel-doc directive with :doc: %s)' %
                          (path, title, title))

    for e in errors:
        print('check-docs: %s' % e, file=sys.stderr)
    if errors:
        return 1
    print('check-docs: %d DOC: sections, all in the documentation; '
          '%d kernel-doc directives checked' % (len(sections), count))
    return 0


if __name__ == '__main__':
    sys.exit(main())

# SPDX-License-Identifier: GPL-2.0
# Sphinx configuration of the gpusvm documentation (make docs, vm/docs.sh).
#
# The documentation is built the way the kernel's is: the .rst files pull
# the DOC: sections and kernel-doc comments of the sources in with the
# kernel-doc directive, whose Sphinx extension (Documentation/sphinx/ of the
# kernel tree) runs the kernel's scripts/kernel-doc. Both are used from the
# pristine kernel source tree the VM tooling unpacks (vm/lib.sh,
# kernel_src_dir), never copied here.

import os
import subprocess
import sys

top = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))


def kernel_src_dir():
    """The kernel source tree: $GPUSVM_KSRC, else vm/lib.sh's kernel_src_dir."""
    ksrc = os.environ.get('GPUSVM_KSRC')
    if not ksrc:
        ksrc = subprocess.run(
            ['bash', '-c', '. "$1/vm/lib.sh" && kernel_src_dir', 'bash', top],
            check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    if not os.path.isfile(os.path.join(ksrc, 'scripts', 'kernel-doc')):
        sys.exit('conf.py: no kernel source tree at %s '
                 '(bash vm/build-kernel.sh unpacks it)' % ksrc)
    return ksrc


ksrc = kernel_src_dir()
# The kernel's extensions, imported from its tree, which stays pristine.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ksrc, 'Documentation', 'sphinx'))

# -- kernel-doc --------------------------------------------------------------

extensions = ['kerneldoc', 'automarkup']

kerneldoc_bin = os.path.join(ksrc, 'scripts', 'kernel-doc')
# Paths in kernel-doc directives are relative to the top of the repository.
kerneldoc_srctree = top
# Any kernel-doc warning makes kernel-doc fail, which the extension reports
# as a Sphinx warning: with sphinx-build -W the build fails.
os.environ['KDOC_WERROR'] = '1'

# Kernel attributes in prototypes that Sphinx's C domain does not know.
c_id_attributes = [
    '__always_inline',
    '__iomem',
    '__maybe_unused',
    '__must_check',
    '__user',
]

# -- Project -----------------------------------------------------------------

project = 'gpusvm'
copyright = 'The gpusvm authors'
author = 'The gpusvm authors'
release = ''
version = ''

master_doc = 'index'
source_suffix = '.rst'
exclude_patterns = ['_build']
primary_domain = 'c'
highlight_language = 'none'
language = 'en'

# -- HTML --------------------------------------------------------------------

html_theme = 'alabaster'
html_title = 'gpusvm documentation'
html_show_sourcelink = False
html_theme_options = {
    'page_width': '1100px',
    'sidebar_width': '260px',
}
html_sidebars = {'**': ['about.html', 'navigation.html', 'searchbox.html']}

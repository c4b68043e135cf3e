#!/usr/bin/env python3
"""Print MAJOR.MINOR.PATCH read from include/mmoe/version.h (the single source)."""
import os
import re
import sys

here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, '..', 'include', 'mmoe', 'version.h')
with open(path, encoding='utf-8') as f:
    text = f.read()
parts = []
for name in ('MAJOR', 'MINOR', 'PATCH'):
    m = re.search(r'#define\s+MMOE_VERSION_' + name + r'\s+(\d+)', text)
    if not m:
        sys.exit('version.h: MMOE_VERSION_' + name + ' not found')
    parts.append(m.group(1))
print('.'.join(parts))

#!/usr/bin/env bash
#
# scripts/check-layers.sh -- fail if a file in src/ includes a higher layer.
#
# src/ is layered, lowest first: 1_value, 2_shmem, 3_catalog, 4_storage,
# 5_dispatch, 6_entry (docs/design.md). A file may include headers of its
# own layer and of lower ones only, so calls go one way: down. Prints each
# offending include as file:line and exits 1 if there is any.
#
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../src"

bad=0
for file in */*.[ch]; do
	own=${file%%_*}
	while IFS=: read -r line included; do
		layer=${included%%_*}
		if [ "$layer" -gt "$own" ]; then
			echo "src/$file:$line: includes $included, a higher layer" >&2
			bad=1
		fi
	done < <(grep -n '^#include "[1-9]_' "$file" | sed 's/^\([0-9]*\):#include "\([^"]*\)".*/\1:\2/')
done
if [ "$bad" -ne 0 ]; then
	echo "check-layers: a file includes a higher layer (see docs/design.md)" >&2
	exit 1
fi
echo "check-layers: every include points to the same or a lower layer"

#!/usr/bin/env bash
# Builds the small disk images and archives that tests/test_evidence.py searches for
# captures.
#
# Usage: test_data/images/make_images.sh [CAPTURE_DIR] [OUT_DIR]
#   CAPTURE_DIR  folder of pcap/pcapng files to hide in the images
#                (default: test_data/captures next to this folder)
#   OUT_DIR      where ext4.raw, fat-mbr.E01, ntfs.vmdk, gpt-fat.qcow2, case.tar,
#                case.tgz, case.zip, streamed.zip, MANIFEST.json and README.md go
#                (default: this folder)
#
# No mounting except NTFS (ntfs-3g in a private mount namespace, because ntfscp
# cannot create folders). Captures are chosen by content, smallest first, so the
# images stay small; MANIFEST.json records which capture went where.
#
# Needs: e2fsprogs, dosfstools, mtools, fdisk (sfdisk), ntfs-3g, ewf-tools,
# qemu-utils, sleuthkit (fls, to verify), gzip, GNU tar, zip, python3,
# util-linux (unshare).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
capture_dir="$(realpath "${1:-$here/../captures}")"
out_dir="$(realpath "${2:-$here}")"

# Fixed times and identifiers so rebuilds differ as little as the tools allow.
export SOURCE_DATE_EPOCH=1704067200 # 2024-01-01T00:00:00Z
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
export TZ=UTC
export LC_ALL=C
fixed_uuid=5eed0000-0000-4000-8000-000000000001

work="$(mktemp -d /tmp/make_images.XXXXXX)"
mount_point=""
cleanup() {
  if [[ -n "$mount_point" ]] && mountpoint -q "$mount_point" 2>/dev/null; then
    umount "$mount_point" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

die() {
  echo "make_images.sh: $*" >&2
  exit 1
}

for tool in mkfs.ext4 debugfs mkfs.vfat mmd mcopy mdel sfdisk mkntfs ntfs-3g \
  ewfacquire qemu-img fls gzip tar zip python3 unshare; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done
[[ -d "$capture_dir" ]] || die "no capture folder: $capture_dir"
mkdir -p "$out_dir"

# ---------------------------------------------------------------- captures
# Sort the captures by content type, then by size and name (smallest first).
magic() { od -An -tx1 -N4 "$1" | tr -d ' \n'; }
pcaps=()
pcapngs=()
while IFS=$'\t' read -r _size path; do
  case "$(magic "$path")" in
  a1b2c3d4 | d4c3b2a1 | a1b23c4d | 4d3cb2a1) pcaps+=("$path") ;;
  0a0d0d0a) pcapngs+=("$path") ;;
  esac
done < <(find "$capture_dir" -type f -printf '%s\t%p\n' | sort -t$'\t' -k1,1n -k2,2)
((${#pcaps[@]} + ${#pcapngs[@]} > 0)) || die "no pcap or pcapng in $capture_dir"
# Without one format, the other stands in (the manifest says which).
((${#pcaps[@]} > 0)) || pcaps=("${pcapngs[@]}")
((${#pcapngs[@]} > 0)) || pcapngs=("${pcaps[@]}")

# pick_pcap N / pick_pcapng N: the Nth capture of that type, wrapping around.
pick_pcap() { echo "${pcaps[$(($1 % ${#pcaps[@]}))]}"; }
pick_pcapng() { echo "${pcapngs[$(($1 % ${#pcapngs[@]}))]}"; }

manifest="$work/manifest.tsv"
media="$work/media.tsv"
: >"$manifest"
: >"$media"
# record IMAGE PARTITION PATH CAPTURE HOW STORED_FILE
# (IMAGE is an image or an archive; PATH is the path inside it, with ":/member" for a
# capture inside an archive inside it)
record() {
  local rel="${4#"$capture_dir"/}"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$rel" "$5" "$6" >>"$manifest"
}
# record_media IMAGE RAW_FILE: the size and SHA-256 of the media inside a container,
# which tests compare with what dfvfs reads out of the container.
record_media() {
  printf '%s\t%s\t%s\n' "$1" "$(stat -c %s "$2")" "$(sha256sum "$2" | cut -d' ' -f1)" \
    >>"$media"
}

# Archives as examiners receive them, made with GNU tar, gzip and Info-ZIP from
# staged trees with fixed times, owners and order, so they are reproducible.
make_tar() { # make_tar OUT DIR: a tar of the folders below DIR
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --format=gnu -C "$2" -cf "$1" .
}
make_tgz() { # make_tgz OUT DIR
  make_tar "$work/tgz.tmp" "$2"
  gzip -n -9 -c "$work/tgz.tmp" >"$1"
  rm -f "$work/tgz.tmp"
}

# stage ROOT PATH CAPTURE HOW: copy (or gzip) a capture into a staging tree.
stage() {
  local root="$1" path="$2" capture="$3" how="$4"
  mkdir -p "$(dirname "$root$path")"
  case "$how" in
  gzip) gzip -n -9 -c "$capture" >"$root$path" ;;
  *) cp "$capture" "$root$path" ;;
  esac
}

filler() {
  local root="$1"
  mkdir -p "$root/etc" "$root/var/log" "$root/home/admin"
  printf 'mail.example.org\n' >"$root/etc/hostname"
  printf 'Jan  1 00:00:00 mail postfix/smtpd[100]: connect from client.example.org\n' \
    >"$root/var/log/syslog"
  printf 'rotated log, not a capture\n' | gzip -n -9 >"$root/var/log/syslog.1.gz"
  printf 'This file is named like a capture but is plain text.\n' \
    >"$root/home/admin/fake.pcap"
  printf '# Admin notes\nNothing to see.\n' >"$root/home/admin/readme.md"
  : >"$root/home/admin/empty.dat"
}

fix_times() { find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }

# ---------------------------------------------------------------- ext4.raw
# ext4, no partition table: nested captures, a gzip one, a renamed one, a deleted one.
build_ext4() {
  local root="$work/ext4" image="$work/ext4.raw"
  mkdir -p "$root"
  filler "$root"
  local c
  c="$(pick_pcap 0)"
  stage "$root" /var/log/capture/smtp.pcap "$c" copy
  record ext4.raw "" /var/log/capture/smtp.pcap "$c" copy /var/log/capture/smtp.pcap
  c="$(pick_pcapng 0)"
  stage "$root" /home/admin/old/trace.pcapng "$c" copy
  record ext4.raw "" /home/admin/old/trace.pcapng "$c" copy /home/admin/old/trace.pcapng
  c="$(pick_pcap 1)"
  stage "$root" /var/log/capture/archive/smtp-2023.pcap.gz "$c" gzip
  record ext4.raw "" /var/log/capture/archive/smtp-2023.pcap.gz "$c" gzip \
    /var/log/capture/archive/smtp-2023.pcap.gz
  c="$(pick_pcap 2)"
  stage "$root" /home/admin/notes.txt "$c" copy
  record ext4.raw "" /home/admin/notes.txt "$c" renamed /home/admin/notes.txt
  c="$(pick_pcap 3)"
  stage "$root" /tmp/upload.pcap "$c" copy
  record ext4.raw "" /tmp/upload.pcap "$c" deleted /tmp/upload.pcap
  # A handed-over archive inside the image: a tgz holding a capture.
  local tgz="$work/ext4-tgz"
  c="$(pick_pcap 11)"
  stage "$tgz" /pcaps/smtp-handover.pcap "$c" copy
  printf 'Handed over by the mail admin.\n' >"$tgz/README.txt"
  fix_times "$tgz"
  mkdir -p "$root/home/admin/Downloads"
  make_tgz "$root/home/admin/Downloads/case.tgz" "$tgz"
  record ext4.raw "" /home/admin/Downloads/case.tgz:/pcaps/smtp-handover.pcap "$c" \
    tgz /home/admin/Downloads/case.tgz
  fix_times "$root"

  # 1 KiB blocks and a 1 MiB journal; the smallest size (512 KiB steps) that holds
  # the files and the journal (mke2fs refuses some sizes or quietly drops the journal
  # on the smallest ones, so try the next size).
  local used_kib size_kib
  used_kib=$(du -s --block-size=1K --apparent-size "$root" | cut -f1)
  size_kib=$(((used_kib * 5 / 4 + 1024 + 511) / 512 * 512))
  until rm -f "$image" && truncate -s "${size_kib}K" "$image" &&
    mkfs.ext4 -q -F -b 1024 -J size=1 -N 128 -L EVIDENCE -U "$fixed_uuid" \
      -E "hash_seed=$fixed_uuid,root_owner=0:0" -d "$root" "$image" >/dev/null 2>&1 &&
    dumpe2fs -h "$image" 2>/dev/null | grep -q '^Filesystem features:.*has_journal'; do
    size_kib=$((size_kib + 512))
    ((size_kib <= 262144)) || die "ext4.raw: mkfs.ext4 keeps failing"
  done
  # mke2fs copies each file's change and access times, which touch cannot pin (the
  # walks above read the folders): fix them here.
  (cd "$root" && find . -mindepth 1 | sort) | sed 's|^\.||' | while read -r path; do
    for field in ctime atime; do
      printf 'sif "%s" %s @%s\nsif "%s" %s_extra 0\n' \
        "$path" "$field" "$SOURCE_DATE_EPOCH" "$path" "$field"
    done
  done >"$work/ext4.debugfs"
  debugfs -w -f "$work/ext4.debugfs" "$image" >/dev/null 2>&1
  # The deleted file keeps its inode and extents (debugfs rm frees, it does not wipe).
  debugfs -w -R 'rm /tmp/upload.pcap' "$image" 2>/dev/null
  fls -r -p "$image" >"$work/ext4.fls"
  grep -q $'^r/r \\* [0-9]*:\ttmp/upload.pcap$' "$work/ext4.fls" ||
    die "ext4.raw: deleted file not listed by fls"
  record_media ext4.raw "$image"
  cp "$image" "$out_dir/ext4.raw"
}

# ---------------------------------------------------------------- fat-mbr.E01
# MBR disk: p1 FAT32 (a long name, a renamed pcapng, a deleted capture), p2 FAT16.
build_fat() {
  local image="$work/fat-mbr.raw"
  local p1_start=2048 p1_sectors=71680 p2_start=73728 p2_sectors=8192
  truncate -s $(((p2_start + p2_sectors) * 512)) "$image"
  sfdisk -q "$image" <<EOF
label: dos
label-id: 0x5eed0001
unit: sectors

start=$p1_start, size=$p1_sectors, type=c
start=$p2_start, size=$p2_sectors, type=6
EOF
  mkfs.vfat --invariant -i 5EED0001 -n CAPTURES -F 32 -s 1 -S 512 \
    --offset $p1_start "$image" $((p1_sectors / 2)) >/dev/null 2>&1
  mkfs.vfat --invariant -i 5EED0002 -n SPARE -F 16 -s 1 -S 512 \
    --offset $p2_start "$image" $((p2_sectors / 2)) >/dev/null 2>&1
  local p1="$image@@$((p1_start * 512))" p2="$image@@$((p2_start * 512))"
  local src="$work/fat-src" c
  mkdir -p "$src"
  printf 'Evidence drive; captures are under Mail.\r\n' >"$src/readme.txt"
  c="$(pick_pcap 4)"
  cp "$c" "$src/long.pcap"
  c2="$(pick_pcapng 1)"
  cp "$c2" "$src/report.doc"
  c3="$(pick_pcap 5)"
  cp "$c3" "$src/deleted.pcap"
  c4="$(pick_pcap 6)"
  cp "$c4" "$src/p2.pcap"
  fix_times "$src"
  mmd -i "$p1" ::/Mail ::/Mail/Archive
  mcopy -m -i "$p1" "$src/readme.txt" ::/readme.txt
  mcopy -m -i "$p1" "$src/long.pcap" "::/Mail/Archive/session-2023-11-14 long name.pcap"
  mcopy -m -i "$p1" "$src/report.doc" ::/Mail/report.doc
  mcopy -m -i "$p1" "$src/deleted.pcap" ::/Mail/deleted.pcap
  mdel -i "$p1" ::/Mail/deleted.pcap
  mmd -i "$p2" ::/dump
  mcopy -m -i "$p2" "$src/p2.pcap" ::/dump/smtp-p2.pcap
  record fat-mbr.E01 p1 "/Mail/Archive/session-2023-11-14 long name.pcap" "$c" copy \
    "/Mail/Archive/session-2023-11-14 long name.pcap"
  record fat-mbr.E01 p1 /Mail/report.doc "$c2" renamed /Mail/report.doc
  record fat-mbr.E01 p1 /Mail/deleted.pcap "$c3" deleted /Mail/deleted.pcap
  record fat-mbr.E01 p2 /dump/smtp-p2.pcap "$c4" copy /dump/smtp-p2.pcap

  fls -o $p1_start -r -p "$image" >"$work/fat.fls"
  grep -q $'^r/r \\* [0-9]*:\tMail/deleted.pcap$' "$work/fat.fls" ||
    die "fat-mbr: deleted file not listed by fls"
  record_media fat-mbr.E01 "$image"
  rm -f "$out_dir"/fat-mbr.E0*
  ewfacquire -u -q -c deflate:best -f encase6 -b 64 -S 1.4GiB \
    -C PLASO-SMTP-TEST -D "FAT32 + FAT16 on MBR, test captures" -E 1 \
    -e make_images.sh -N "built by test_data/images/make_images.sh" \
    -t "$work/fat-mbr" "$image" >/dev/null
  cp "$work/fat-mbr.E01" "$out_dir/fat-mbr.E01"
}

# ---------------------------------------------------------------- ntfs.vmdk
# NTFS, no partition table, as a compressed (streamOptimized) VMDK: nested folders, a renamed capture,
# a capture in an alternate data stream and a deleted capture.
build_ntfs() {
  local image="$work/ntfs.raw" c c2 c3 c4
  local size_kib
  size_kib=$((($(du -c --block-size=1K --apparent-size "$(pick_pcapng 2)" \
    "$(pick_pcap 7)" "$(pick_pcap 8)" "$(pick_pcap 9)" | tail -1 | cut -f1) * 5 / 4 + 6144 + 1023) / 1024 * 1024))
  truncate -s "${size_kib}K" "$image"
  mkntfs -F -q -Q -L EVIDENCE -s 512 -c 4096 "$image" >/dev/null 2>&1
  mount_point="$work/mnt"
  mkdir -p "$mount_point"
  c="$(pick_pcapng 2)"
  c2="$(pick_pcap 7)"
  c3="$(pick_pcap 8)"
  c4="$(pick_pcap 9)"
  unshare -m bash -euo pipefail -c '
    image="$1" mnt="$2" c="$3" c2="$4" c3="$5" c4="$6"
    ntfs-3g -o streams_interface=windows "$image" "$mnt"
    mkdir -p "$mnt/Users/admin/Documents/evidence" "$mnt/Users/admin/Downloads" \
      "$mnt/Windows/System32"
    printf "[boot loader]\r\n" >"$mnt/Windows/System32/boot.ini"
    printf "Quarterly figures\r\n" >"$mnt/Users/admin/Documents/readme.txt"
    cp "$c" "$mnt/Users/admin/Documents/evidence/mail.pcapng"
    cp "$c2" "$mnt/Users/admin/Downloads/invoice.pdf"
    cp "$c4" "$mnt/Users/admin/Documents/readme.txt:hidden"
    cp "$c3" "$mnt/Users/admin/Documents/deleted.pcap"
    sync
    rm "$mnt/Users/admin/Documents/deleted.pcap"
    umount "$mnt"
  ' make_ntfs "$image" "$mount_point" "$c" "$c2" "$c3" "$c4"
  record ntfs.vmdk "" /Users/admin/Documents/evidence/mail.pcapng "$c" copy \
    /Users/admin/Documents/evidence/mail.pcapng
  record ntfs.vmdk "" /Users/admin/Downloads/invoice.pdf "$c2" renamed \
    /Users/admin/Downloads/invoice.pdf
  record ntfs.vmdk "" /Users/admin/Documents/readme.txt:hidden "$c4" stream \
    /Users/admin/Documents/readme.txt:hidden
  record ntfs.vmdk "" /Users/admin/Documents/deleted.pcap "$c3" deleted \
    /Users/admin/Documents/deleted.pcap

  fls -r -p "$image" >"$work/ntfs.fls"
  grep -q $'^-/r \\* [0-9-]*:\tUsers/admin/Documents/deleted.pcap$' "$work/ntfs.fls" ||
    die "ntfs: deleted file not listed by fls"
  record_media ntfs.vmdk "$image"
  rm -f "$out_dir/ntfs.vmdk"
  qemu-img convert -O vmdk -o subformat=streamOptimized "$image" "$out_dir/ntfs.vmdk"
}

# ---------------------------------------------------------------- gpt-fat.qcow2
# GPT disk with one FAT16 partition, as compressed QCOW2 (qemu-img convert -c): a
# capture under a name without extension, and a zip holding a capture.
build_gpt() {
  local image="$work/gpt-fat.raw" start=2048 sectors=6144 c
  truncate -s $(((start + sectors + 34) * 512)) "$image"
  sfdisk -q "$image" <<GPT
label: gpt
label-id: 5EED0000-0000-4000-8000-000000000002
unit: sectors
first-lba: 34

start=$start, size=$sectors, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, uuid=5EED0000-0000-4000-8000-000000000003, name="evidence"
GPT
  mkfs.vfat --invariant -i 5EED0003 -n GPTDATA -F 16 -s 1 -S 512 \
    --offset $start "$image" $((sectors / 2)) >/dev/null 2>&1
  local part="$image@@$((start * 512))" src="$work/gpt-src"
  mkdir -p "$src"
  c="$(pick_pcap 10)"
  cp "$c" "$src/capture"
  printf 'not a capture\r\n' >"$src/notes.txt"
  local c2 zip_src="$work/gpt-zip"
  c2="$(pick_pcap 12)"
  mkdir -p "$zip_src/smtp"
  cp "$c2" "$zip_src/smtp/outbound.pcap"
  fix_times "$zip_src"
  (cd "$zip_src" && zip -X -q -9 "$src/handover.zip" smtp/outbound.pcap)
  fix_times "$src"
  mmd -i "$part" ::/export
  mcopy -m -i "$part" "$src/notes.txt" ::/export/notes.txt
  mcopy -m -i "$part" "$src/capture" ::/export/capture
  mcopy -m -i "$part" "$src/handover.zip" ::/export/handover.zip
  record gpt-fat.qcow2 p1 /export/capture "$c" renamed /export/capture
  record gpt-fat.qcow2 p1 /export/handover.zip:/smtp/outbound.pcap "$c2" zip-deflated \
    /export/handover.zip
  record_media gpt-fat.qcow2 "$image"
  rm -f "$out_dir/gpt-fat.qcow2"
  # Compressed, so that a libqcow that misreads compressed clusters (20260703 reads
  # them as zeros) fails the tests; check that qemu-img really compressed some.
  qemu-img convert -c -O qcow2 -o cluster_size=4096 "$image" "$out_dir/gpt-fat.qcow2"
  [[ $(stat -c %s "$out_dir/gpt-fat.qcow2") -lt $(du -B1 "$image" | cut -f1) ]] ||
    die "gpt-fat.qcow2: not smaller than its raw image; compression did not happen"
}

# ---------------------------------------------------------------- archives
# case.tar (plain GNU tar: a copy, a renamed capture, a gzip capture, text),
# case.tgz (gzip tar: a pcapng and a zip inside it holding a capture, two deep),
# case.zip (one member stored, one deflated, a text member), streamed.zip (written to
# a pipe, so each member's sizes follow its data in a data descriptor).
build_archives() {
  local tree="$work/case-tar" c
  mkdir -p "$tree/case/notes"
  printf 'Chain of custody: see ticket 4711.\n' >"$tree/case/notes/readme.txt"
  c="$(pick_pcap 13)"
  stage "$tree" /case/smtp.pcap "$c" copy
  record case.tar "" /case/smtp.pcap "$c" copy /case/smtp.pcap
  c="$(pick_pcap 14)"
  stage "$tree" /case/session.dat "$c" copy
  record case.tar "" /case/session.dat "$c" renamed /case/session.dat
  c="$(pick_pcap 15)"
  stage "$tree" /case/old.pcap.gz "$c" gzip
  record case.tar "" /case/old.pcap.gz "$c" gzip /case/old.pcap.gz
  fix_times "$tree"
  make_tar "$out_dir/case.tar" "$tree"

  tree="$work/case-tgz"
  local inner="$work/case-tgz-inner"
  mkdir -p "$tree/pcaps" "$inner/inner"
  printf 'Exported from the mail gateway.\n' >"$tree/README.txt"
  c="$(pick_pcapng 3)"
  stage "$tree" /pcaps/gateway.pcapng "$c" copy
  record case.tgz "" /pcaps/gateway.pcapng "$c" copy /pcaps/gateway.pcapng
  c="$(pick_pcap 16)"
  cp "$c" "$inner/inner/deep.pcap"
  fix_times "$inner"
  (cd "$inner" && zip -X -q -9 "$tree/pcaps/inner.zip" inner/deep.pcap)
  record case.tgz "" /pcaps/inner.zip:/inner/deep.pcap "$c" zip-deflated \
    /pcaps/inner.zip
  fix_times "$tree"
  make_tgz "$out_dir/case.tgz" "$tree"

  tree="$work/case-zip"
  mkdir -p "$tree/mail"
  c="$(pick_pcap 17)"
  stage "$tree" /stored.pcap "$c" copy
  record case.zip "" /stored.pcap "$c" zip-stored /stored.pcap
  c="$(pick_pcap 18)"
  stage "$tree" /mail/deflated.pcap "$c" copy
  record case.zip "" /mail/deflated.pcap "$c" zip-deflated /mail/deflated.pcap
  printf 'Notes on the mail server.\n%.0s' {1..20} >"$tree/mail/notes.txt"
  fix_times "$tree"
  rm -f "$out_dir/case.zip"
  (cd "$tree" && zip -X -q -0 "$out_dir/case.zip" stored.pcap &&
    zip -X -q -9 "$out_dir/case.zip" mail/deflated.pcap mail/notes.txt)
  python3 - "$out_dir/case.zip" <<'PY' || die "case.zip: members not stored as intended"
import sys, zipfile
methods = [i.compress_type for i in zipfile.ZipFile(sys.argv[1]).infolist()]
sys.exit(methods != [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_DEFLATED])
PY

  tree="$work/streamed-zip"
  mkdir -p "$tree"
  c="$(pick_pcap 19)"
  stage "$tree" /first.pcap "$c" copy
  record streamed.zip "" /first.pcap "$c" zip-streamed /first.pcap
  c="$(pick_pcap 20)"
  stage "$tree" /second.pcap "$c" copy
  record streamed.zip "" /second.pcap "$c" zip-streamed /second.pcap
  fix_times "$tree"
  (cd "$tree" && zip -X -q -9 - first.pcap second.pcap | cat >"$out_dir/streamed.zip")
  python3 - "$out_dir/streamed.zip" <<'PY' || die "streamed.zip: no data descriptors"
import sys, zipfile
sys.exit(not all(i.flag_bits & 8 for i in zipfile.ZipFile(sys.argv[1]).infolist()))
PY
}

build_ext4
build_fat
build_ntfs
build_gpt
build_archives

# ---------------------------------------------------------------- manifest
python3 - "$manifest" "$out_dir/MANIFEST.json" "$capture_dir" "$here/../.." "$media" <<'EOF'
import hashlib, json, os, sys

rows, out, capture_dir, repo, media_rows = sys.argv[1:6]
ARCHIVES = ("case.tar", "case.tgz", "case.zip", "streamed.zip")
images = {}
archives = {}
for line in open(rows, encoding="utf-8"):
    image, partition, path, capture, how, _stored = line.rstrip("\n").split("\t")
    with open(os.path.join(capture_dir, capture), "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    (archives if image in ARCHIVES else images).setdefault(image, []).append(
        {
            "partition": partition or None,
            "path": path,
            "capture": capture,
            "capture_sha256": digest,
            "how": how,
        }
    )
for table in (images, archives):
    for image in table:
        table[image].sort(key=lambda entry: (entry["partition"] or "", entry["path"]))
media = {}
for line in open(media_rows, encoding="utf-8"):
    image, size, digest = line.rstrip("\n").split("\t")
    media[image] = {"size": int(size), "sha256": digest}
repo = os.path.realpath(repo)
capture_dir = os.path.abspath(capture_dir)
if os.path.commonpath([capture_dir, repo]) == repo:
    capture_dir = os.path.relpath(capture_dir, repo)
manifest = {
    "built_by": "test_data/images/make_images.sh",
    "capture_dir": capture_dir,
    "how": {
        "copy": "stored unchanged",
        "renamed": "stored unchanged under a misleading name",
        "gzip": "stored gzip-compressed (gzip -n -9)",
        "deleted": "stored unchanged, then deleted (metadata still reaches it)",
        "stream": "stored unchanged in an NTFS alternate data stream",
        "tgz": "stored unchanged in a gzip-compressed tar (GNU tar, gzip -n -9) in the "
        "image; the path names the tar, then the member",
        "zip-deflated": "stored deflated (zip -9) in a zip; the path names the zip, "
        "then the member",
        "zip-stored": "stored without compression (zip -0) in a zip",
        "zip-streamed": "stored deflated by zip writing to a pipe: sizes and CRC in a "
        "data descriptor after the data",
    },
    "images": images,
    "media": media,
    "archives": archives,
}
with open(out, "w", encoding="utf-8") as handle:
    json.dump(manifest, handle, indent=2)
    handle.write("\n")

layouts = {
    "ext4.raw": "raw image, no partition table: one ext4 file system (label EVIDENCE, "
    "1 KiB blocks, 1 MiB journal, fixed UUID and times)",
    "fat-mbr.E01": "EWF (EnCase 6, deflate best) of an MBR disk: p1 = FAT32 at sector "
    "2048 (label CAPTURES, 35 MiB), p2 = FAT16 at sector 73728 (label SPARE, 4 MiB)",
    "gpt-fat.qcow2": "compressed QCOW2 (qemu-img convert -c, 4 KiB clusters) of a GPT "
    "disk: p1 = FAT16 at sector 2048 (label GPTDATA, 3 MiB, fixed GUIDs)",
    "ntfs.vmdk": "streamOptimized (compressed) VMDK, no partition table: one NTFS "
    "file system (label EVIDENCE); built with mkntfs and ntfs-3g, so not bit-for-bit "
    "reproducible",
}
lines = [
    "# Test disk images and archives",
    "",
    "Built by `make_images.sh [CAPTURE_DIR] [OUT_DIR]` (default CAPTURE_DIR: "
    "`test_data/captures`) and searched by `tests/test_evidence.py`. This file and "
    "`MANIFEST.json` are written by the script; do not edit them by hand. Besides the "
    "disk images there are four archives (`case.tar`, `case.tgz`, `case.zip`, "
    "`streamed.zip`), and "
    "`MANIFEST.json` gives, under `media`, the size and SHA-256 of the raw media inside "
    "each image, which the tests compare with what dfvfs reads out of the container.",
    "",
    "The script picks captures by content (pcap or pcapng), smallest first, so the "
    "images stay small; non-capture files (text, an empty file, a gzip log, a text "
    "file named `fake.pcap`) sit beside them and must not be reported. "
    "`smtpcore.evidence.find_captures` reports a capture inside an image as "
    "`IMAGE:/p1/path` (volume label, then the path in the file system; no label without "
    "a volume system), `IMAGE:/path:stream` for an NTFS alternate data stream, and "
    "adds ` (deleted)` to deleted files; a capture inside an archive is "
    "`ARCHIVE:/member`, and inside an archive inside an image "
    "`IMAGE:/p1/path/case.zip:/member`.",
    "",
    f"Captures taken from: `{capture_dir}`.",
    "",
]
for image, entries in images.items():
    lines += [f"## {image}", "", layouts[image], "", "| volume | path inside | how | capture |", "|---|---|---|---|"]
    for entry in entries:
        lines.append(
            f"| {entry['partition'] or '-'} | `{entry['path']}` | {entry['how']} | "
            f"`{entry['capture']}` |"
        )
    lines.append("")
archive_layouts = {
    "case.tar": "GNU tar, no compression; also holds `/case/notes/readme.txt` (text)",
    "case.tgz": "gzip-compressed GNU tar; `/pcaps/inner.zip` is a zip inside it (two "
    "archives deep); also holds `/README.txt` (text)",
    "case.zip": "Info-ZIP: `/stored.pcap` stored, `/mail/deflated.pcap` and "
    "`/mail/notes.txt` (text) deflated",
    "streamed.zip": "Info-ZIP writing to a pipe (`zip - ... | cat`): both members "
    "deflated with data descriptors",
}
for archive, entries in archives.items():
    lines += [f"## {archive}", "", archive_layouts[archive], "", "| path inside | how | capture |", "|---|---|---|"]
    for entry in entries:
        lines.append(f"| `{entry['path']}` | {entry['how']} | `{entry['capture']}` |")
    lines.append("")
lines += [
    "`how`: " + "; ".join(f"{k} = {v}" for k, v in manifest["how"].items()) + ".",
    "",
    "Non-capture files beside them: ext4.raw `/etc/hostname`, `/var/log/syslog`, "
    "`/var/log/syslog.1.gz` (gzip of text), `/home/admin/fake.pcap` (text), "
    "`/home/admin/readme.md`, `/home/admin/empty.dat` (empty); fat-mbr.E01 p1 "
    "`/readme.txt`; ntfs.vmdk `/Windows/System32/boot.ini`, "
    "`/Users/admin/Documents/readme.txt` (whose `hidden` stream is a capture); "
    "gpt-fat.qcow2 `/export/notes.txt`; ext4.raw's `case.tgz` `/README.txt`.",
    "",
    "Reproducibility: ext4.raw, gpt-fat.qcow2 and the media inside fat-mbr.E01 (its "
    "MD5) are bit-for-bit reproducible from the same captures; the E01 container "
    "records the acquisition date, and mkntfs/ntfs-3g write random serials and current "
    "times, so those two files change on every build. The archives are reproducible. "
    "gpt-fat.qcow2 is compressed on purpose: libqcow-python 20260703 reads clusters "
    "compressed by qemu-img as zeros (pyproject.toml excludes it).",
    "",
]
with open(os.path.join(os.path.dirname(out), "README.md"), "w", encoding="utf-8") as handle:
    handle.write("\n".join(lines))
EOF

ls -l "$out_dir"/ext4.raw "$out_dir"/fat-mbr.E01 "$out_dir"/ntfs.vmdk \
  "$out_dir"/gpt-fat.qcow2 "$out_dir"/case.tar "$out_dir"/case.tgz "$out_dir"/case.zip \
  "$out_dir"/streamed.zip

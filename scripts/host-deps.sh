#!/usr/bin/env bash
# host-deps.sh GROUP... — make sure the host tools a make target needs are
# present. As root on Debian the missing packages are installed with apt-get;
# otherwise the exact packages to install are named and the script fails.
#
# Groups: test (unit, lab and qemu tests), lab (the rack lab), run (make run),
# image (the image builder), browser (the headless UI test), race (the race
# detector: cgo needs a C compiler and the C library headers), monitoring
# (promtool and a Prometheus server for the shipped rules and the alert test),
# bench (make bench's capacity part pins the generator and the box to CPUs).
set -euo pipefail

declare -A pkg_of=(
	[ip]=iproute2 [ethtool]=ethtool [iperf3]=iperf3 [hping3]=hping3
	[tcpdump]=tcpdump [tshark]=tshark [tcpreplay]=tcpreplay [nft]=nftables
	[ping]=iputils-ping [pgrep]=procps [unsquashfs]=squashfs-tools
	[e2fsck]=e2fsprogs [qemu-system-x86_64]=qemu-system-x86 [chromium]=chromium
	[sfdisk]=fdisk [fsck.fat]=dosfstools [debugfs]=e2fsprogs [mdir]=mtools
	[gcc]=gcc [promtool]=prometheus [prometheus]=prometheus [taskset]=util-linux
)
# Files that are not commands.
declare -A file_pkg=(
	[/usr/share/OVMF/OVMF_CODE_4M.fd]=ovmf
	[/usr/lib/systemd/boot/efi/systemd-bootx64.efi]=systemd-boot-efi
	[/usr/lib/python3/dist-packages/scapy/__init__.py]=python3-scapy
	[/usr/include/stdio.h]=libc6-dev
)

# test is the union of the groups the whole suite needs.
groups=()
for group in "$@"; do
	if [ "$group" = test ]; then groups+=(lab image run browser monitoring); else groups+=("$group"); fi
done

cmds=() files=()
for group in "${groups[@]}"; do
	case "$group" in
	lab) cmds+=(ip ethtool iperf3 hping3 tcpdump tcpreplay nft ping pgrep)
	     files+=(/usr/lib/python3/dist-packages/scapy/__init__.py) ;;
	image) cmds+=(unsquashfs e2fsck debugfs sfdisk fsck.fat mdir)
	       files+=(/usr/lib/systemd/boot/efi/systemd-bootx64.efi) ;;
	run) cmds+=(qemu-system-x86_64) files+=(/usr/share/OVMF/OVMF_CODE_4M.fd) ;;
	browser) cmds+=(chromium) ;;
	monitoring) cmds+=(promtool prometheus) ;;
	race) cmds+=(gcc) files+=(/usr/include/stdio.h) ;;
	bench) cmds+=(taskset) ;;
	*) echo "host-deps.sh: unknown group $group" >&2; exit 2 ;;
	esac
done

missing=()
for c in "${cmds[@]}"; do
	command -v "$c" >/dev/null 2>&1 || missing+=("${pkg_of[$c]}")
done
for f in "${files[@]}"; do
	[ -e "$f" ] || missing+=("${file_pkg[$f]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing host packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
	exit 0
fi
echo "missing host packages: ${missing[*]}" >&2
echo "install them with: sudo apt-get install ${missing[*]}" >&2
exit 1

# shellcheck shell=bash
# Sourced by bench/pull.sh: the DISK=slow profile. An ext4 filesystem on a
# loop device (a sparse file under $WORK, the loop's direct-io off), mounted at
# $WORK/slow, and a blkio cgroup v1 that holds the writes its processes make to
# that device to $SLOW_BPS bytes/s. cgroup v1 throttles only the I/O a process
# submits itself (O_DIRECT writes, what its fsync flushes), not the kernel's
# writeback of the page cache: this models a slow disk (a cloud volume's
# baseline, an HDD) on a machine with RAM to spare.
#
# slow_setup sets SLOW_MNT, LOOP, SLOW_DEV (MAJ:MIN), CGROUP and SLOW_CHECK
# (what the self-check measured), and dies unless the throttle holds.
# in_cgroup, run first in a subshell, moves that subshell into the cgroup (a
# no-op while CGROUP is empty). slow_teardown undoes whatever slow_setup did.
# Both need die and note from the script that sources this.

SLOW_CGROUP=/sys/fs/cgroup/blkio/haul-bench-slow

in_cgroup() { [[ -z ${CGROUP:-} ]] || echo "$BASHPID" >"$CGROUP/cgroup.procs"; }

# o_direct_secs 1|0: seconds dd takes to write 512 MiB by O_DIRECT onto the
# mount, in the cgroup (1) or not (0).
o_direct_secs() {
	local t0 t1
	t0=$EPOCHREALTIME
	(
		if [[ $1 == 1 ]]; then in_cgroup; fi
		exec dd if=/dev/zero of="$SLOW_MNT/dd-check" bs=1M count=512 oflag=direct status=none
	) || true
	t1=$EPOCHREALTIME
	rm -f "$SLOW_MNT/dd-check"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

slow_setup() {
	local avail_kb expect inside outside
	[[ $EUID == 0 ]] || die "DISK=slow needs root (losetup, mount, a blkio cgroup)"
	[[ -f ${SLOW_CGROUP%/*}/blkio.throttle.write_bps_device ]] || die "DISK=slow needs cgroup v1's blkio controller at ${SLOW_CGROUP%/*}"
	if [[ -d $SLOW_CGROUP ]]; then
		# (cgroup files have size 0: read them)
		[[ -n $(cat "$SLOW_CGROUP/cgroup.procs") ]] && die "$SLOW_CGROUP holds processes ($(tr '\n' ' ' <"$SLOW_CGROUP/cgroup.procs")): is another DISK=slow run going?"
		rmdir "$SLOW_CGROUP" || die "could not remove the stale $SLOW_CGROUP"
	fi
	avail_kb=$(df --output=avail -k "$WORK" | tail -n1)
	((avail_kb > SLOW_GIB * 1048576)) || die "DISK=slow: less than SLOW_GIB=$SLOW_GIB GiB free under $WORK for the loop device's file"

	truncate -s "${SLOW_GIB}G" "$WORK/slow.img"
	LOOP=$(losetup --find --show --direct-io=off "$WORK/slow.img") || die "losetup failed"
	# Inode tables and journal written now, not by ext4lazyinit during the rounds.
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$LOOP" || die "mkfs.ext4 $LOOP failed"
	SLOW_MNT=$WORK/slow
	mkdir -p "$SLOW_MNT"
	mount -t ext4 "$LOOP" "$SLOW_MNT" || die "mount $LOOP $SLOW_MNT failed"
	SLOW_DEV=$(cat "/sys/class/block/${LOOP#/dev/}/dev")
	mkdir "$SLOW_CGROUP"
	CGROUP=$SLOW_CGROUP
	echo "$SLOW_DEV $SLOW_BPS" >"$CGROUP/blkio.throttle.write_bps_device"

	# The self-check: in the cgroup the write takes what the throttle allows
	# (within -15%..+50%), and outside it clearly less (the loop writes into
	# the page cache of its file, but on this VM fresh memory is slow: 0.2-1.6 s).
	expect=$(awk -v b="$SLOW_BPS" 'BEGIN { printf "%.2f", 512 * 1048576 / b }')
	inside=$(o_direct_secs 1)
	outside=$(o_direct_secs 0)
	SLOW_CHECK="dd of 512 MiB by O_DIRECT took $inside s in the cgroup (expected $expect s), $outside s outside it"
	note "slow disk: $LOOP ($SLOW_DEV) on $SLOW_MNT; $SLOW_CHECK"
	awk -v i="$inside" -v o="$outside" -v e="$expect" 'BEGIN { exit !(i >= 0.85 * e && i <= 1.5 * e && o < 0.75 * e) }' ||
		die "DISK=slow: the throttle does not hold: $SLOW_CHECK"
}

slow_teardown() {
	local _
	if [[ -n ${SLOW_MNT:-} ]] && mountpoint -q "$SLOW_MNT"; then
		for _ in 1 2 3 4 5; do
			if umount "$SLOW_MNT" 2>/dev/null; then break; fi
			sleep 1
		done
		if mountpoint -q "$SLOW_MNT"; then
			note "umount $SLOW_MNT failed; detaching it lazily"
			umount -l "$SLOW_MNT" || true
		fi
	fi
	SLOW_MNT=
	if [[ -n ${LOOP:-} ]]; then
		losetup -d "$LOOP" || note "losetup -d $LOOP failed"
		LOOP=
	fi
	if [[ -n ${CGROUP:-} ]]; then
		for _ in 1 2 3 4 5; do
			if rmdir "$CGROUP" 2>/dev/null; then break; fi
			sleep 1
		done
		if [[ -d $CGROUP ]]; then note "could not remove $CGROUP; processes in it: $(tr '\n' ' ' <"$CGROUP/cgroup.procs")"; fi
		CGROUP=
	fi
}

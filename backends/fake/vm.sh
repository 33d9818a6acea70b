# gnt fake-hypervisor guest: one small real process per running instance.
#
# Usage (by backends/fake only): bash --norc --noprofile vm.sh --fork DIR TICK COUNTER BOOTS MODE
#   DIR      the instance's runtime directory (holds tick.fifo, made by the driver)
#   TICK     seconds between counter ticks (may be fractional, e.g. 0.05)
#   COUNTER  initial value of the guest's state counter ("guest RAM")
#   BOOTS    boot count (bumped on every reboot)
#   MODE     run | paused (paused: the counter stands still, like a CPU-stopped VM)
#
# --fork makes the script double-fork: the guest runs in a background subshell whose pid is printed,
# and the parent exits, so the guest is reparented away from the node daemon (no zombies there).
#
# Guest state is written to DIR/state as "COUNTER BOOTS STATUS ACK BOOT_US" after every tick and
# after every control request.  Signals:
#   SIGTERM  ACPI power button / guest-initiated poweroff: STATUS becomes "shutdown", exit 0.
#            Bash may drop a signal that races with the end of a read -t, so senders repeat it.
#            (A paused guest ignores it, like a guest whose CPUs are stopped.)
#   SIGKILL  a crash: the last STATUS stays "running", so the driver reports "crashed".
#   SIGUSR2  control request: the driver wrote "SEQ CMD [ARGS]" to DIR/ctl; the guest acts and
#            acknowledges by writing ACK=SEQ to DIR/state.  CMD is one of
#            pause | cont [COUNTER BOOTS UPTIME_US] | reboot | poweroff | dump.
# Everything is a bash builtin (read -t on a FIFO sleeps without forking), so a guest costs no
# fork per tick and ~300 KiB private memory.

set -u
dir=$2
tick=$3
c=$4
boots=$5
st=running
[ "$6" = paused ] && st=paused
ack=0
boot_us=${EPOCHREALTIME/./}

dump() {
    # Overwrite in place (<>, no O_TRUNC) with a fixed-width record: a reader never sees the empty
    # file that a truncating `>` leaves between open and write when the guest is preempted there.
    local line
    printf -v line '%d %d %s %d %d' "$c" "$boots" "$st" "$ack" "$boot_us"
    printf '%-79s\n' "$line" 1<>"$dir/state"
}

console() {
    printf '[%s] %s\n' "$(( (${EPOCHREALTIME/./} - boot_us) / 1000000 ))" "$1" >>"$dir/console.log"
}

power_off() {
    st=shutdown
    dump
    console "reboot: Power down"
    exit 0
}

on_term() {
    [ "$st" = paused ] && return
    console "ACPI: power button pressed, shutting down"
    power_off
}

on_ctl() {
    # mapfile, not read: a nested `read` would cancel the pending `read -t` timeout of the
    # main loop, which then never ticks again.
    local lines
    mapfile -t -n 1 lines <"$dir/ctl" || return
    # shellcheck disable=SC2206
    local w=(${lines[0]-}) seq cmd a b u
    seq=${w[0]-0} cmd=${w[1]-} a=${w[2]-} b=${w[3]-} u=${w[4]-}
    # The driver re-sends SIGUSR2 until it sees the ack (bash may drop a signal that races with
    # the read -t timeout), so a request already done must not be done twice.
    if [ "$seq" = "$ack" ]; then
        dump
        return
    fi
    case $cmd in
    pause) st=paused ;;
    cont)
        if [ -n "${u-}" ]; then
            c=$a
            boots=$b
            boot_us=$(( ${EPOCHREALTIME/./} - u ))
        fi
        st=running
        console "resumed at counter $c"
        ;;
    reboot)
        boots=$((boots + 1))
        boot_us=${EPOCHREALTIME/./}
        console "reboot: Restarting system (boot $boots)"
        ;;
    poweroff)
        ack=$seq
        power_off
        ;;
    esac
    ack=$seq
    dump
}

guest() {
    trap on_term TERM
    trap on_ctl USR2
    trap '' HUP INT
    exec 9<>"$dir/tick.fifo"
    console "gnt fake guest booting (boot $boots, counter $c, $st)"
    dump
    local n=0
    while :; do
        read -r -t "$tick" -u 9 _
        if [ "$st" = running ]; then
            c=$((c + 1))
            n=$((n + 1))
            [ $((n % 600)) = 0 ] && console "alive, counter $c"
        fi
        dump
    done
}

if [ "$1" = --fork ]; then
    guest </dev/null >/dev/null 2>&1 &
    echo $!
    exit 0
fi
guest

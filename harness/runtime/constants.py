"""Linux flag values, syscall numbers, capability and rlimit names, as the kernel's uapi headers define them."""

# --- clone(2), clone3(2), unshare(2), setns(2) flags (include/uapi/linux/sched.h) ---
CLONE_NEWTIME = 0x00000080
CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_SIGHAND = 0x00000800
CLONE_PIDFD = 0x00001000
CLONE_PTRACE = 0x00002000
CLONE_VFORK = 0x00004000
CLONE_PARENT = 0x00008000
CLONE_THREAD = 0x00010000
CLONE_NEWNS = 0x00020000
CLONE_SYSVSEM = 0x00040000
CLONE_SETTLS = 0x00080000
CLONE_PARENT_SETTID = 0x00100000
CLONE_CHILD_CLEARTID = 0x00200000
CLONE_UNTRACED = 0x00800000
CLONE_CHILD_SETTID = 0x01000000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_IO = 0x80000000
CLONE_CLEAR_SIGHAND = 0x100000000  # clone3 only
CLONE_INTO_CGROUP = 0x200000000  # clone3 only, Linux 5.7

# OCI namespace type -> the clone flag that creates it, and its name under /proc/PID/ns/.
NAMESPACE_CLONE_FLAGS = {
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "mount": CLONE_NEWNS,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}
NAMESPACE_PROC_NAMES = {
    "pid": "pid",
    "network": "net",
    "mount": "mnt",
    "ipc": "ipc",
    "uts": "uts",
    "user": "user",
    "cgroup": "cgroup",
    "time": "time",
}

# --- mount(2) flags (include/uapi/linux/mount.h) ---
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_POSIXACL = 1 << 16
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_KERNMOUNT = 1 << 22
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

# --- umount2(2) flags ---
MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

# --- *at(2) flags shared by open_tree, move_mount, mount_setattr (include/uapi/linux/fcntl.h) ---
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000

# --- open_tree(2) ---
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000  # == O_CLOEXEC

# --- move_mount(2) ---
MOVE_MOUNT_F_SYMLINKS = 0x01
MOVE_MOUNT_F_AUTOMOUNTS = 0x02
MOVE_MOUNT_F_EMPTY_PATH = 0x04
MOVE_MOUNT_T_SYMLINKS = 0x10
MOVE_MOUNT_T_AUTOMOUNTS = 0x20
MOVE_MOUNT_T_EMPTY_PATH = 0x40
MOVE_MOUNT_SET_GROUP = 0x100
MOVE_MOUNT_BENEATH = 0x200

# --- mount_setattr(2) attributes (struct mount_attr.attr_set / attr_clr) ---
MOUNT_ATTR_RDONLY = 0x01
MOUNT_ATTR_NOSUID = 0x02
MOUNT_ATTR_NODEV = 0x04
MOUNT_ATTR_NOEXEC = 0x08
MOUNT_ATTR__ATIME = 0x70  # the mask of the three atime modes below; RELATIME is 0
MOUNT_ATTR_RELATIME = 0x00
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# --- openat2(2) struct open_how.resolve flags (include/uapi/linux/openat2.h, Linux 5.6) ---
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = 0x20

# --- statfs(2) f_type magic numbers (include/uapi/linux/magic.h) ---
PROC_SUPER_MAGIC = 0x9FA0

# --- prctl(2) options (include/uapi/linux/prctl.h) ---
PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_GET_KEEPCAPS = 7
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET = 1
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_LOWER = 3
PR_CAP_AMBIENT_CLEAR_ALL = 4

# capget/capset header version that carries 64-bit sets (two 32-bit data structs).
LINUX_CAPABILITY_VERSION_3 = 0x20080522

# --- raw syscall numbers, for calls glibc has no wrapper for (or had none before 2.36) ---
# Numbers from 424 on are shared by every architecture; the older ones differ.
SYSCALL_NUMBERS = {
    "x86_64": {
        "pivot_root": 155,
        "pidfd_send_signal": 424,
        "open_tree": 428,
        "move_mount": 429,
        "pidfd_open": 434,
        "clone3": 435,
        "mount_setattr": 442,
        "bpf": 321,
        "openat2": 437,
        "seccomp": 317,
        "ioprio_set": 251,
        "sched_setattr": 314,
    },
    "aarch64": {
        "pivot_root": 41,
        "bpf": 280,
        "pidfd_send_signal": 424,
        "open_tree": 428,
        "move_mount": 429,
        "pidfd_open": 434,
        "clone3": 435,
        "mount_setattr": 442,
        "openat2": 437,
        "seccomp": 277,
        "ioprio_set": 30,
        "sched_setattr": 274,
    },
}

# --- scheduling of the container process (process.scheduler, process.ioPriority; linux.personality) ---
# include/uapi/linux/sched.h; SCHED_ISO is reserved by the spec but not implemented by Linux (EINVAL).
SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_ISO": 4,
                  "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02, "SCHED_FLAG_DL_OVERRUN": 0x04,
               "SCHED_FLAG_KEEP_POLICY": 0x08, "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
# include/uapi/linux/ioprio.h: the class sits above IOPRIO_CLASS_SHIFT bits of per-class priority.
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
IOPRIO_CLASS_SHIFT = 13
IOPRIO_WHO_PROCESS = 1
# include/uapi/linux/personality.h: the execution domain in the low byte, flags above it.
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}
PERSONALITY_FLAGS = {"UNAME26": 0x0020000, "ADDR_NO_RANDOMIZE": 0x0040000, "FDPIC_FUNCPTRS": 0x0080000,
                     "MMAP_PAGE_ZERO": 0x0100000, "ADDR_COMPAT_LAYOUT": 0x0200000, "READ_IMPLIES_EXEC": 0x0400000,
                     "ADDR_LIMIT_32BIT": 0x0800000, "SHORT_INODE": 0x1000000, "WHOLE_SECONDS": 0x2000000,
                     "STICKY_TIMEOUTS": 0x4000000, "ADDR_LIMIT_3GB": 0x8000000}

# --- capabilities (include/uapi/linux/capability.h), name -> bit number ---
CAPABILITIES = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

# --- resource limits (include/uapi/asm-generic/resource.h), OCI name -> resource number ---
RLIMITS = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}


def _names_with_prefix(prefix: str, exclude: tuple[str, ...] = ()) -> dict[int, str]:
    """Value -> name for this module's non-zero constants starting with `prefix`, first name winning."""
    table: dict[int, str] = {}
    for name, value in globals().items():
        if name.startswith(prefix) and name not in exclude and isinstance(value, int) and value > 0:
            table.setdefault(value, name)
    return table


# Value -> name tables, used to print flag arguments readably in SyscallError messages.
CLONE_FLAG_NAMES = _names_with_prefix("CLONE_")
MOUNT_FLAG_NAMES = _names_with_prefix("MS_")
UMOUNT_FLAG_NAMES = {**_names_with_prefix("MNT_"), UMOUNT_NOFOLLOW: "UMOUNT_NOFOLLOW"}
AT_FLAG_NAMES = _names_with_prefix("AT_")
OPEN_TREE_FLAG_NAMES = {**_names_with_prefix("OPEN_TREE_"), **AT_FLAG_NAMES}
MOVE_MOUNT_FLAG_NAMES = _names_with_prefix("MOVE_MOUNT_")
MOUNT_ATTR_NAMES = _names_with_prefix("MOUNT_ATTR_", exclude=("MOUNT_ATTR__ATIME",))
RESOLVE_FLAG_NAMES = _names_with_prefix("RESOLVE_")
# The PR_CAP_AMBIENT_* values are sub-operations (arg2 of PR_CAP_AMBIENT), not options.
PRCTL_OPTION_NAMES = _names_with_prefix(
    "PR_", exclude=tuple(name for name in globals() if name.startswith("PR_CAP_AMBIENT_")))

#!/usr/bin/env bash
# Runs the engine's unit tests built for aarch64 Linux under qemu's user-mode emulator: all of them
# on an emulated CPU with the dot-product extension (`-cpu max`: the scalar, NEON and NEON+sdot
# kernels run and are compared with each other), and the CPU kernels' ones (crates/engine/src/cpu)
# again on a Cortex-A57 (Armv8.0, no dot products: the runtime detection must pick plain NEON, and
# no sdot may run).
# Installs what it lacks: the cross linker and qemu from Debian, Rust's aarch64 standard library.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
# Debian bookworm's packages (the distribution pins their versions; an exact version pin would
# break when the mirror replaces it with a security update).
packages=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-aarch64: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The standard library for the toolchain this checkout builds with.
# rustup's own server is not a package registry: where it cannot be reached (a CI box limited to the
# registries), say so loudly and stop here rather than fail the whole test command.
if ! rustup target list --installed | grep -qx "$target" && ! rustup target add "$target" >/dev/null; then
  echo "test-aarch64: SKIPPED: Rust's standard library for $target could not be installed (rustup's server unreachable?); the NEON kernels were not tested" >&2
  exit 0
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc   # C code in dependencies (ring)
sysroot=/usr/aarch64-linux-gnu
tests=(cargo test --locked -q -p almanac-engine --lib --target "$target" --profile aarch64-test)
for run in max:dotprod cortex-a57:neon; do
  cpu=${run%%:*}
  export ALMANAC_EXPECT_ISA=${run#*:}   # what cpu::detect must find there (a test checks)
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $sysroot -cpu $cpu"
  # All of the engine's unit tests (model-free, about 20 s under qemu) on the CPU that has every
  # level, the CPU kernels' ones (cpu::) on the other. The override test re-runs its own
  # executable, which only qemu can start: its probe runs directly below, with the variable set.
  filter=(cpu::)
  [ "$cpu" = max ] && filter=()
  echo "test-aarch64: engine unit tests ${filter[*]:-(all)} on an emulated '$cpu' CPU" >&2
  "${tests[@]}" -- "${filter[@]}" --skip the_isa_override_forces_the_scalar_path_through_matmul "$@"
  probe=$(ALMANAC_CPU_ISA=scalar "${tests[@]}" -- cpu::matmul::tests::scalar_override_probe --exact --nocapture)
  grep -q "probe ran the scalar path" <<<"$probe" || { echo "test-aarch64: the probe did not run: $probe" >&2; exit 1; }
done

#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine with rustup.
set -euo pipefail

rustup target add thumbv7em-none-eabihf
# 32-bit big-endian PowerPC, for `cargo xtask big-endian` (the CP5's kind
# of CPU): the Rust target, a cross linker and qemu-user.
rustup target add powerpc-unknown-linux-gnu
rustup component add rustfmt clippy 2>/dev/null || true

# Tools the tests call. openssl checks what the firmware produces;
# softhsm2 is the anchor of `cargo xtask bench`; python3-cryptography runs
# the second, independent audit-export verifier (host/tests/audit_verify.py);
# poppler-utils' pdfsig checks the PAdES signatures (host/docsign/tests).
# sam-docsign's XAdES canonicalizes with libxml2 through the `libxml`
# crate, whose build runs bindgen (libxml2-dev, pkg-config, libclang-dev);
# its tests verify with xmlsec1 and read the signed XML with python3-lxml.
# systemd's systemd-analyze checks the unit files of dist/systemd.
# postgresql: samd's PostgreSQL store is tested against a real server, a
# throwaway cluster each test starts (sam_harness::postgres; initdb and
# pg_ctl from /usr/lib/postgresql/*/bin, run as the unprivileged user
# sam-pg when the tests run as root). Only the binaries are used: the
# package's own cluster service is not needed by the tests.
packages=(openssl qemu-user gcc-powerpc-linux-gnu libc6-dev-powerpc-cross softhsm2 python3-cryptography
    libxml2-dev pkg-config libclang-dev xmlsec1 python3-lxml poppler-utils systemd postgresql)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# `cargo xtask fuzz --smoke` (part of `cargo xtask ci`): libFuzzer needs
# the nightly toolchain (-Zsanitizer=address) and cargo-fuzz, each
# installed only if missing. 0.13.2 is the version the fuzz/ crate is run
# with; --locked builds it with the dependency versions it was released
# with (which build with stable 1.95).
CARGO_FUZZ_VERSION=0.13.2
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# The third-party CSC client of the CSC test (host/csc/tests): pyHanko's
# CSCSigner signs a PDF through /csc/v1 and validates it. Pinned versions,
# into the Python that `python3` runs; skipped where it is present.
if ! python3 -c 'import pyhanko.sign.signers.csc_signer, aiohttp' >/dev/null 2>&1; then
    pyhanko=("pyhanko==0.38.0" "pyhanko-certvalidator==0.33.0" "aiohttp==3.14.5")
    # A Debian-managed python3 (PEP 668) takes it only with the override.
    python3 -m pip install --quiet --disable-pip-version-check "${pyhanko[@]}" ||
        python3 -m pip install --quiet --disable-pip-version-check \
            --break-system-packages "${pyhanko[@]}"
fi

# The next hop of sam-mail's tests (host/mail/tests): aiosmtpd receives
# the signed mail. Pinned, into the Python that `python3` runs; skipped
# where it is present.
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    aiosmtpd=("aiosmtpd==1.4.6" "atpublic==9.0.0" "attrs==26.1.0")
    python3 -m pip install --quiet --disable-pip-version-check "${aiosmtpd[@]}" ||
        python3 -m pip install --quiet --disable-pip-version-check \
            --break-system-packages "${aiosmtpd[@]}"
fi

"""Scan one TLS host with sslyze and write its result as sslyze's JSON (run with sslyze's venv).

sslyze caps cryptography below the version the gateway runs, so it lives in a
virtualenv of its own (`make sslyze-venv`) and the tests run this script with
that virtualenv's interpreter; it imports nothing from the project. It uses the
Python API rather than the command line for one setting the command line lacks:
a network timeout long enough for a loaded machine. The JSON document is one
server's `ServerScanResultAsJson`, the same nodes as an entry of the command
line's `--json_out` file.

Usage: python sslyze_scan.py HOSTNAME PORT IP_ADDRESS CA_FILE JSON_OUT
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from cryptography.utils import CryptographyDeprecationWarning
from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommand,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkConfiguration,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanResultAsJson,
)
from sslyze.plugins.certificate_info.trust_stores.trust_store_repository import (
    TrustStoresRepository,
)

NETWORK_TIMEOUT = 30  # seconds per connection; sslyze's default of 5 is short for a loaded machine

SCAN_COMMANDS = {
    ScanCommand.SSL_2_0_CIPHER_SUITES,
    ScanCommand.SSL_3_0_CIPHER_SUITES,
    ScanCommand.TLS_1_0_CIPHER_SUITES,
    ScanCommand.TLS_1_1_CIPHER_SUITES,
    ScanCommand.TLS_1_2_CIPHER_SUITES,
    ScanCommand.TLS_1_3_CIPHER_SUITES,
    ScanCommand.CERTIFICATE_INFO,
}


def load_public_trust_stores() -> None:
    """Parse the public trust stores sslyze ships (it caches them for the process).

    One certificate in them has a serial number of zero, which cryptography
    loads with a deprecation warning about sslyze's own data: silenced, so the
    script's error output only ever shows what went wrong with the scan.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="Parsed a serial number which wasn't positive",
            category=CryptographyDeprecationWarning,
        )
        TrustStoresRepository.get_default()


def scan(hostname: str, port: int, ip_address: str, ca_file: Path) -> str:
    """SCAN_COMMANDS against `hostname` (also the SNI name) at `ip_address`:`port`, as JSON."""
    load_public_trust_stores()
    request = ServerScanRequest(
        server_location=ServerNetworkLocation(hostname=hostname, port=port, ip_address=ip_address),
        network_configuration=ServerNetworkConfiguration(
            tls_server_name_indication=hostname, network_timeout=NETWORK_TIMEOUT
        ),
        scan_commands=SCAN_COMMANDS,
        scan_commands_extra_arguments=ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=ca_file)
        ),
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    (result,) = list(scanner.get_results())
    return str(ServerScanResultAsJson.model_validate(result).model_dump_json(indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("hostname")
    parser.add_argument("port", type=int)
    parser.add_argument("ip_address")
    parser.add_argument("ca_file", type=Path)
    parser.add_argument("json_out", type=Path)
    arguments = parser.parse_args()
    document = scan(arguments.hostname, arguments.port, arguments.ip_address, arguments.ca_file)
    arguments.json_out.write_text(document)


if __name__ == "__main__":
    main()

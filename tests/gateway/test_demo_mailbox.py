"""The demo's SMTP server keeps every mail the gateway sends in an mbox file people can read."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path

from gateway.demo.mailbox import start_demo_mailbox
from gateway.jobs.customer_mail import SmtpSender
from gateway.settings import Settings


async def test_mail_sent_to_the_demo_server_is_appended_to_its_mbox(tmp_path: Path) -> None:
    served = await start_demo_mailbox(tmp_path)
    assert served is not None
    try:
        sender = SmtpSender(served.settings_for(Settings(data_dir=tmp_path)))
        for number in (1, 2):
            message = EmailMessage()
            message["From"] = "Alpeak <billing@localhost>"
            message["To"] = "Camille Martin <camille@example.fr>"
            message["Subject"] = f"Facture ALPEAK-000{number}"
            message.set_content("Bonjour Camille Martin,")
            await sender.send(message)
    finally:
        await served.close()
    assert served.path == tmp_path / "demo-mail.mbox"
    box = mailbox.mbox(served.path)
    try:
        kept = list(box)
    finally:
        box.close()
    assert [str(message["Subject"]) for message in kept] == [
        "Facture ALPEAK-0001",
        "Facture ALPEAK-0002",
    ]
    assert all(message["To"] == "Camille Martin <camille@example.fr>" for message in kept)

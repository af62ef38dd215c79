"""The Kamailio configuration of the local adapter: a registrar for agents' phones and a proxy that routes every
other call (the workspaces' numbers) to the media workers, round-robin, trying the next worker when one is busy
(486) or gone."""

from __future__ import annotations

import glob
import shutil
from pathlib import Path


def kamailio_binary() -> str | None:
    return shutil.which("kamailio") or next(iter(glob.glob("/usr/sbin/kamailio")), None)


def module_dir() -> str:
    found = sorted(glob.glob("/usr/lib/*/kamailio/modules")) + sorted(glob.glob("/usr/lib/kamailio/modules"))
    return found[0] if found else "/usr/lib/x86_64-linux-gnu/kamailio/modules"


def write_config(folder: Path, *, host: str, port: int, workers: list[int]) -> Path:
    """Write ``kamailio.cfg`` and the dispatcher list (the media workers' SIP ports) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    dispatcher = folder / "dispatcher.list"
    dispatcher.write_text("".join(f"1 sip:{host}:{p}\n" for p in workers))
    cfg = folder / "kamailio.cfg"
    cfg.write_text(f"""#!KAMAILIO
# written by `guanxi telephony run`; regenerated on every start
debug=1
log_stderror=yes
fork=yes
children=2
auto_aliases=no
listen=udp:{host}:{port}
alias="{host}:{port}"
mpath="{module_dir()}/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "dispatcher.so"
modparam("usrloc", "db_mode", 0)
modparam("rr", "enable_full_lr", 1)
modparam("tm", "fr_timer", 3000)
modparam("dispatcher", "list_file", "{dispatcher}")
modparam("dispatcher", "flags", 2)

request_route {{
  if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
  if (has_totag()) {{
    if (loose_route()) {{ t_relay(); exit; }}
    if (is_method("ACK") && !t_check_trans()) {{ exit; }}
    t_relay(); exit;
  }}
  if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
  if (is_method("REGISTER")) {{ save("location"); exit; }}
  if (is_method("INVITE")) {{ record_route(); }}
  # a registered phone (an agent, or any SIP user of this proxy)
  if (lookup("location")) {{ t_relay(); exit; }}
  # a media worker dialling a number nobody registered: there is no trunk here
  if (ds_is_from_list("1")) {{ sl_send_reply("404", "Not Found"); exit; }}
  # anything else is a call for a workspace number: to a media worker
  if (!is_method("INVITE")) {{ sl_send_reply("404", "Not Found"); exit; }}
  if (!ds_select_dst("1", "4")) {{ sl_send_reply("503", "No media worker"); exit; }}
  t_on_failure("NEXT_WORKER");
  t_relay();
}}

failure_route[NEXT_WORKER] {{
  if (t_is_canceled()) {{ exit; }}
  if (t_check_status("486|408|480|500|503") && ds_next_dst()) {{
    t_on_failure("NEXT_WORKER");
    t_relay();
  }}
}}
""")
    return cfg

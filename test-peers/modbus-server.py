"""A real Modbus slave for the tests and the bench: Debian's python3-pymodbus (3.0.0), TCP or RTU.

Usage: modbus-server.py tcp HOST          (listens on port 0, prints {"ready": true, "port": N})
       modbus-server.py rtu SERIAL-PATH BAUD PARITY DATABITS STOPBITS   (prints {"ready": true})

Register values come as JSON lines on stdin, and so do changes while it runs:
  {"op": "set", "unit": 1, "table": "hr"|"ir"|"co"|"di", "address": 0, "values": [..]}
  {"op": "drop", "unit": 1}      the unit stops answering (its requests are ignored: a timeout)
  {"op": "restore", "unit": 1}   it answers again, with the values it had
Each command is answered with {"ok": true, "seq": N} on stdout, N counting commands, so the test
knows when a change is in force. Addresses not set answer with exception 2 (illegal address).
"""
import asyncio
import json
import sys
import threading

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer

TABLES = ("hr", "ir", "co", "di")


def new_unit():
    # zero_mode: protocol address N is datastore address N (pymodbus otherwise adds 1).
    return ModbusSlaveContext(zero_mode=True, **{t: ModbusSparseDataBlock({}) for t in TABLES})


class Units:
    def __init__(self, context):
        self.context = context
        self.dropped = {}
        self.seq = 0

    def unit(self, unit_id):
        if unit_id in self.dropped:
            return self.dropped[unit_id]
        if unit_id not in self.context:
            self.context[unit_id] = new_unit()
        return self.context[unit_id]

    def apply(self, command):
        op = command["op"]
        unit_id = int(command["unit"])
        if op == "set":
            table = command["table"]
            if table not in TABLES:
                raise ValueError(f"table must be one of {TABLES}")
            values = command["values"]
            block = self.unit(unit_id).store[{"hr": "h", "ir": "i", "co": "c", "di": "d"}[table]]
            block.setValues(int(command["address"]), values, use_as_default=True)
        elif op == "drop":
            if unit_id in self.context:
                self.dropped[unit_id] = self.context[unit_id]
                del self.context[unit_id]
        elif op == "restore":
            if unit_id in self.dropped:
                self.context[unit_id] = self.dropped.pop(unit_id)
        else:
            raise ValueError(f"unknown op {op}")


def say(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def read_commands(loop, units):
    for line in sys.stdin:
        if not line.strip():
            continue

        def apply(text=line):
            units.seq += 1
            try:
                units.apply(json.loads(text))
                say({"ok": True, "seq": units.seq})
            except Exception as exc:  # pylint: disable=broad-except
                say({"ok": False, "seq": units.seq, "error": str(exc)})

        loop.call_soon_threadsafe(apply)
    # stdin closed: the test process is gone, so is this server.
    loop.call_soon_threadsafe(loop.stop)


async def main():
    loop = asyncio.get_running_loop()
    context = ModbusServerContext(slaves={}, single=False)
    units = Units(context)
    mode = sys.argv[1]
    if mode == "tcp":
        server = ModbusTcpServer(context, address=(sys.argv[2], 0), ignore_missing_slaves=True, allow_reuse_address=True)
        task = asyncio.create_task(server.serve_forever())
        await server.serving
        port = server.server.sockets[0].getsockname()[1]
        ready = {"ready": True, "port": port}
    else:
        path, baud, parity, data_bits, stop_bits = sys.argv[2:7]
        server = ModbusSerialServer(
            context, framer=ModbusRtuFramer, port=path, baudrate=int(baud), parity=parity,
            bytesize=int(data_bits), stopbits=int(stop_bits), ignore_missing_slaves=True,
        )
        await server.start()
        if server.transport is None:
            # pymodbus logs a failed open at debug level only and carries on; say it and stop.
            raise SystemExit(f"cannot open {path} with parity {parity} (a Linux pty refuses parity once set)")
        task = None
        ready = {"ready": True}
    threading.Thread(target=read_commands, args=(loop, units), daemon=True).start()
    say(ready)
    try:
        await asyncio.Event().wait()
    finally:
        if task is not None:
            task.cancel()


try:
    asyncio.run(main())
except RuntimeError:
    # loop.stop() from the stdin reader ends run() this way: a normal end.
    pass

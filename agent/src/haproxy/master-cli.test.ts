import { createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMasterCli,
  currentWorker,
  MasterCliError,
  parseReloadAnswer,
  parseShowInfo,
  parseShowProc,
  parseShowStat,
  parseUptime,
  sendCommand,
} from './master-cli.ts';
import { locateError, parseCheckOutput } from './check.ts';

// Captured from HAProxy 2.6.12-1+deb12u3 (Debian 12) in master-worker mode, byte for byte.
const PROC_FRESH =
  '#<PID>          <type>          <reloads>       <uptime>        <version>      \n' +
  '24258           master          0 [failed: 0]   0d00h00m01s     2.6.12-1+deb12u3\n' +
  '# workers\n' +
  '24261           worker          0               0d00h00m01s     2.6.12-1+deb12u3\n' +
  '# programs\n\n';

// After a reload that failed (config error): reloads and failed both went up, the same worker
// keeps serving and its own counter went up too.
const PROC_AFTER_FAILED_RELOAD =
  '#<PID>          <type>          <reloads>       <uptime>        <version>      \n' +
  '24258           master          2 [failed: 1]   0d00h00m12s     2.6.12-1+deb12u3\n' +
  '# workers\n' +
  '24316           worker          1               0d00h00m06s     2.6.12-1+deb12u3\n' +
  '# programs\n\n';

// A worker still draining a long TCP connection two reloads later; note failed went back to 0
// after a successful reload.
const PROC_WITH_OLD_WORKER =
  '#<PID>          <type>          <reloads>       <uptime>        <version>      \n' +
  '24258           master          6 [failed: 0]   0d00h00m45s     2.6.12-1+deb12u3\n' +
  '# workers\n' +
  '24521           worker          0               0d00h00m00s     2.6.12-1+deb12u3\n' +
  '# old workers\n' +
  '24489           worker          2               0d00h00m01s     2.6.12-1+deb12u3\n' +
  '# programs\n\n';

// management.txt's example (2.5-dev): several old workers, programs, no [failed:] on older masters.
const PROC_DOC_EXAMPLE =
  '#<PID>          <type>          <reloads>       <uptime>        <version>\n' +
  '1162            master          5               0d00h02m07s     2.5-dev13\n' +
  '# workers\n' +
  '1271            worker          1               0d00h00m00s     2.5-dev13\n' +
  '# old workers\n' +
  '1233            worker          3               0d00h00m43s     2.0-dev3-6019f6-289\n' +
  '1100            worker          2               0d00h01m12s     2.0-dev3-6019f6-289\n' +
  '# programs\n' +
  '1244            foo             0               0d00h00m00s     -\n' +
  '1255            bar             0               0d00h00m00s     -\n';

const INFO =
  'Name: HAProxy\nVersion: 2.6.12-1+deb12u3\nRelease_date: 2025/10/03\nNbthread: 2\nNbproc: 1\nProcess_num: 1\n' +
  'Pid: 25648\nUptime: 0d 0h00m04s\nUptime_sec: 4\nMemmax_MB: 0\nMaxconn: 9980\nCurrConns: 0\nCumConns: 8\nCumReq: 3\n' +
  'Stopping: 0\nJobs: 3\nUnstoppable Jobs: 1\nListeners: 2\nBuild info: 2.6.12-1+deb12u3\nTainted: 0\n\n';

const STAT =
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,\n' +
  'fe,FRONTEND,,,0,1,9980,1,82,217,0,0,0,,,,,OPEN,,,,,,,,,1,1,0,,,,0,1,0,1,,,,0,0,0,0,1,0,,1,1,1,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,1,1,1,0,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,79,214,0,0,\n' +
  'be,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,10,1,0,1,1,1,1,,1,2,1,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,3,0,,,,127.0.0.1:18097,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,10,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n' +
  'be,s2,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,20,1,0,,,1,,,1,2,2,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18096,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,20,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n' +
  'be,BACKEND,0,0,0,1,998,1,82,217,0,0,,1,0,0,0,DOWN,0,0,0,,1,1,1,,1,2,0,,0,,1,1,,1,,,,0,0,0,0,1,0,,,,1,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,0,0,0,0,,,0,0,0,0,0,,,,,0,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,\n\n';

describe('parseShowProc', () => {
  it('reads the master line with its reload and failed-reload counters, and the current worker', () => {
    const p = parseShowProc(PROC_FRESH);
    expect(p.master).toEqual({ pid: 24258, type: 'master', reloads: 0, failedReloads: 0, uptimeSeconds: 1, version: '2.6.12-1+deb12u3' });
    expect(p.workers).toEqual([{ pid: 24261, type: 'worker', reloads: 0, uptimeSeconds: 1, version: '2.6.12-1+deb12u3' }]);
    expect(currentWorker(p)?.pid).toBe(24261);
  });

  it('after a failed reload, keeps the surviving worker as current even though its counter went up', () => {
    const p = parseShowProc(PROC_AFTER_FAILED_RELOAD);
    expect(p.master.reloads).toBe(2);
    expect(p.master.failedReloads).toBe(1);
    expect(currentWorker(p)).toMatchObject({ pid: 24316, reloads: 1 });
  });

  it('lists current workers first and marks workers under "# old workers" as old', () => {
    const p = parseShowProc(PROC_WITH_OLD_WORKER);
    expect(p.workers.map((w) => [w.pid, w.reloads, w.old ?? false])).toEqual([
      [24521, 0, false],
      [24489, 2, true],
    ]);
    expect(currentWorker(p)?.pid).toBe(24521);
    expect(p.master.failedReloads).toBe(0);
  });

  it('orders several old workers by reloads, leaves programs out, and accepts masters without [failed:]', () => {
    const p = parseShowProc(PROC_DOC_EXAMPLE);
    expect(p.master).toMatchObject({ pid: 1162, reloads: 5, uptimeSeconds: 127 });
    expect(p.master.failedReloads).toBeUndefined();
    expect(p.workers.map((w) => w.pid)).toEqual([1271, 1100, 1233]);
    expect(p.workers.every((w) => w.type === 'worker')).toBe(true);
  });

  it('refuses an answer without a master line (e.g. a worker stats socket, or an error)', () => {
    expect(() => parseShowProc('Unknown command: \'show proc\'\n')).toThrow(/no master line/);
  });

  it('converts HAProxy uptimes to seconds', () => {
    expect(parseUptime('1d02h03m04s')).toBe(86400 + 7200 + 180 + 4);
    expect(parseUptime('garbage')).toBe(0);
  });
});

describe('parseShowInfo / parseShowStat', () => {
  it('reads show info as key/value pairs, keys with spaces included', () => {
    const info = parseShowInfo(INFO);
    expect(info['Pid']).toBe('25648');
    expect(info['Version']).toBe('2.6.12-1+deb12u3');
    expect(info['Unstoppable Jobs']).toBe('1');
    expect(info['Uptime']).toBe('0d 0h00m04s');
  });

  it('reads show stat CSV by column name: frontends, backends and servers with status, sessions, weight and checks', () => {
    const rows = parseShowStat(STAT);
    expect(rows.map((r) => [r.proxy, r.name, r.type, r.status])).toEqual([
      ['fe', 'FRONTEND', 'frontend', 'OPEN'],
      ['be', 's1', 'server', 'DOWN'],
      ['be', 's2', 'server', 'MAINT'],
      ['be', 'BACKEND', 'backend', 'DOWN'],
    ]);
    expect(rows[0]).toMatchObject({ currentSessions: 0, maxSessions: 1, totalSessions: 1, sessionRate: 1, requestRate: 1 });
    expect(rows[1]).toMatchObject({ weight: 10, checkStatus: 'L4CON' });
    expect(rows[2]?.checkStatus).toBeUndefined();
  });

  it('handles quoted CSV fields containing commas', () => {
    const rows = parseShowStat('# pxname,svname,status,type,check_status\n"a,b",s1,UP,2,"L7OK"\n');
    expect(rows[0]).toMatchObject({ proxy: 'a,b', name: 's1', status: 'UP', type: 'server', checkStatus: 'L7OK' });
  });
});

describe('parseReloadAnswer', () => {
  it('reads 2.6 empty answers as "no status"', () => {
    expect(parseReloadAnswer('')).toEqual({ logs: '' });
  });

  it('reads the 2.7+ Success=1 answer with its startup logs', () => {
    const a = parseReloadAnswer('Success=1\n--\n[NOTICE]   (1) : haproxy version is 2.8.5\n[NOTICE]   (1) : Loading success.\n');
    expect(a.success).toBe(true);
    expect(a.logs).toContain('Loading success.');
  });

  it('reads a 2.7+ Success=0 answer and keeps the reason', () => {
    const a = parseReloadAnswer('Success=0\n--\nAnother reload is still in progress.\n');
    expect(a).toEqual({ success: false, logs: 'Another reload is still in progress.' });
  });
});

describe('haproxy -c output', () => {
  const OUT =
    '[NOTICE]   (24604) : haproxy version is 2.6.12-1+deb12u3\n' +
    '[NOTICE]   (24604) : path to executable is /usr/sbin/haproxy\n' +
    "[ALERT]    (24604) : config : parsing [m.cfg:12] : error detected in frontend 'fe' while parsing 'http-request set-var(txn.site)' rule : invalid args in converter 'map' : failed to open pattern file <maps/hosts.map>.\n" +
    '[ALERT]    (24604) : config : Error(s) found in configuration file : m.cfg\n' +
    "[WARNING]  (24604) : config : parsing [m.cfg:3] : 'option httplog' not usable with proxy 'x' (needs 'mode http'). Falling back to 'option tcplog'.\n";

  it('keeps alerts and warnings without the "[LEVEL] (pid) : " prefix and drops notices', () => {
    const { alerts, warnings } = parseCheckOutput(OUT);
    expect(alerts).toEqual([
      "config : parsing [m.cfg:12] : error detected in frontend 'fe' while parsing 'http-request set-var(txn.site)' rule : invalid args in converter 'map' : failed to open pattern file <maps/hosts.map>.",
      'config : Error(s) found in configuration file : m.cfg',
    ]);
    expect(warnings).toHaveLength(1);
  });

  it('points at the first "parsing [file:line]", relative to the config dir', () => {
    expect(locateError(parseCheckOutput(OUT).alerts)).toEqual({ file: 'm.cfg', line: 12 });
    expect(locateError(['config : parsing [/etc/haproxy/conf.d/x.cfg:7] : boom'], '/etc/haproxy')).toEqual({ file: 'conf.d/x.cfg', line: 7 });
    expect(locateError(['[ALERT] something without a location'])).toEqual({});
    expect(
      locateError(["Proxy 'fe': cannot bind socket for [127.0.0.1:8080]", "Proxy 'fe', server 's1' [haproxy.cfg:17] is broken"]),
    ).toEqual({ file: 'haproxy.cfg', line: 17 });
  });

  it('reads the older dated prefix ([ALERT] 301/123456 (pid) : ...)', () => {
    expect(parseCheckOutput('[ALERT] 301/123456 (1234) : parsing [a.cfg:2] : unknown keyword\n').alerts).toEqual([
      'parsing [a.cfg:2] : unknown keyword',
    ]);
  });
});

describe('master CLI client against a fake socket', () => {
  let dir: string | undefined;
  let server: Server | undefined;
  const conns = new Set<Socket>();
  afterEach(async () => {
    for (const c of conns) c.destroy();
    conns.clear();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function fake(onLine: (line: string, reply: (s: string) => void, close: () => void) => void): Promise<string> {
    dir = await mkdtemp(join(tmpdir(), 'hq-mcli-'));
    const path = join(dir, 'master.sock');
    // allowHalfOpen: like HAProxy's master, our side's half-close does not close theirs.
    server = createServer({ allowHalfOpen: true }, (c) => {
      conns.add(c);
      let buf = '';
      c.on('data', (d) => {
        buf += d.toString();
        const i = buf.indexOf('\n');
        if (i >= 0) {
          onLine(buf.slice(0, i), (s) => c.write(s), () => c.end());
          buf = buf.slice(i + 1);
        }
      });
      c.on('error', () => undefined);
    });
    await new Promise<void>((r) => server?.listen(path, r));
    return path;
  }

  it('half-closes after the command so an answer is complete even when the master keeps the connection open', async () => {
    // Like 2.6: answer, then keep the connection until the client closes its side.
    const path = await fake((line, reply) => reply(`got ${line}\n`));
    server?.on('connection', (c) => c.on('end', () => c.end()));
    await expect(sendCommand(path, 'show proc', 1000)).resolves.toBe('got show proc\n');
  });

  it('names the socket path and suggests -S when the socket does not exist', async () => {
    const err = await sendCommand('/nonexistent/hq/master.sock', 'show proc', 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MasterCliError);
    expect((err as MasterCliError).message).toMatch(/\/nonexistent\/hq\/master\.sock does not exist.*-W -S/);
    expect((err as MasterCliError).sent).toBe(false);
  });

  it('times out with the command and the limit in the message', async () => {
    const path = await fake(() => undefined); // never answers, never closes
    const err = await sendCommand(path, 'show proc', 100).catch((e: unknown) => e);
    expect((err as MasterCliError).code).toBe('TIMEOUT');
    expect((err as MasterCliError).message).toMatch(/did not answer "show proc" within 100 ms/);
  });

  it('trusts a 2.7+ "Success=0" reload answer without waiting for show proc to move', async () => {
    const path = await fake((line, reply, close) => {
      if (line === 'show proc') reply(PROC_FRESH);
      else if (line === 'reload') reply('Success=0\n--\n[ALERT]    (1) : config : parsing [haproxy.cfg:3] : unknown keyword\n');
      close();
    });
    const r = await createMasterCli(path).reload(2000);
    expect(r.ok).toBe(false);
    expect(r.failedAt).toBe('reload');
    expect(r.reason).toMatch(/Success=0.*parsing \[haproxy\.cfg:3\]/s);
    expect(r.durationMs).toBeLessThan(1000);
  });

  it('reports a reload HAProxy never registers as a timeout with the unchanged counter', async () => {
    const path = await fake((line, reply, close) => {
      if (line === 'show proc') reply(PROC_FRESH);
      close();
    });
    const r = await createMasterCli(path).reload(150);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/did not register the reload within 150 ms \(master reload counter still 0\)/);
  });

  it('a last poll cut short by the budget does not hide what the polls before it saw', async () => {
    // Every show proc after the first answers in 120 ms: the second poll after the reload has
    // less than that left of the 300 ms budget and times out.
    let procs = 0;
    const path = await fake((line, reply, close) => {
      if (line === 'show proc') {
        setTimeout(() => {
          reply(PROC_FRESH);
          close();
        }, procs++ === 0 ? 0 : 120);
        return;
      }
      close();
    });
    const r = await createMasterCli(path).reload(300);
    expect(r.ok).toBe(false);
    expect(procs).toBeGreaterThanOrEqual(3);
    expect(r.reason).toMatch(/did not register the reload within 300 ms \(master reload counter still 0\)/);
  });
});

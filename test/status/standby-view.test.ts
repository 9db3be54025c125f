// walwait status, the standby side's pure parts: the archive and trigger a walwait
// restore_command names (so `walwait status -D DIR` needs no other flag), and the lag.
import t from 'tap';
import { walwaitPathsFrom } from '../../lib/status/standby-view.js';

t.test('walwaitPathsFrom: the forms restore_command takes', async (t) => {
  const d = '/var/lib/pg/data';
  t.same(walwaitPathsFrom("/usr/bin/walwait %f %p --archive /mnt/wal --trigger '/run/walwait trigger'", d), {
    archive: '/mnt/wal',
    trigger: '/run/walwait trigger',
  });
  t.same(walwaitPathsFrom('walwait restore %f %p -a=arch --trigger=trig', d), { archive: `${d}/arch`, trigger: `${d}/trig` }, 'relative to the data directory');
  t.same(walwaitPathsFrom('walwait %f %p -a ../arch -t /tmp/t', d), { archive: '/var/lib/pg/arch', trigger: '/tmp/t' });
  t.same(walwaitPathsFrom('walwait pg_standby -d -s 2 -t /tmp/pgsql.trigger.5442 /mnt/archive %f %p %r', d), {
    archive: '/mnt/archive',
    trigger: '/tmp/pgsql.trigger.5442',
  });
  t.same(walwaitPathsFrom('cp /mnt/server/archivedir/%f %p', d), {}, 'not walwait');
  t.same(walwaitPathsFrom('walwait %f %p', d), {}, 'walwait.json or the environment then');
});

import t from 'tap';
import { checkPrimary, classifySlot, parseConninfo, redactConninfo, type SlotRow } from '../../lib/check/primary.js';

t.test('conninfo', async (t) => {
  t.match(parseConninfo("host=/var/run/postgresql port=5433 user=postgres dbname = 'my db' password='it\\'s' connect_timeout=3"), {
    host: '/var/run/postgresql',
    port: 5433,
    user: 'postgres',
    database: 'my db',
    password: "it's",
    connectionTimeoutMillis: 3000,
  });
  t.match(parseConninfo('host=h user=repl'), { database: 'repl' }, 'dbname defaults to the user, as in libpq');
  t.match(parseConninfo('postgresql://u@h:5432/db'), { connectionString: 'postgresql://u@h:5432/db' });
  t.throws(() => parseConninfo('host=h nonsense'), /at "nonsense"/);
  t.equal(redactConninfo("host=h password='se cret' user=u"), 'host=h password=*** user=u');
  t.equal(redactConninfo('postgresql://u:secret@h/db'), 'postgresql://u:***@h/db');
});

const slot = (over: Partial<SlotRow>): SlotRow => ({
  slot_name: 's1',
  slot_type: 'physical',
  active: true,
  wal_status: 'reserved',
  restart_lsn: '0/3000000',
  retained: '1048576',
  ...over,
});
const GB = 1024 ** 3;

t.test('slots', async (t) => {
  t.match(classifySlot(slot({}), GB), {
    status: 'pass',
    name: 'slot s1',
    message: 'physical, active, wal_status reserved, retains 1 MiB (1048576 bytes) (max_slot_wal_keep_size 1 GiB)',
  });
  t.match(classifySlot(slot({ wal_status: 'extended' }), undefined), { status: 'pass', message: /max_slot_wal_keep_size unlimited/ });
  t.match(classifySlot(slot({ wal_status: 'unreserved' }), GB), { status: 'warn', message: /next checkpoint/, fix: /start its consumer/ });
  t.match(classifySlot(slot({ wal_status: 'lost', active: false }), GB), { status: 'fail', message: /was removed/, fix: /pg_drop_replication_slot\('s1'\)/ });
  t.match(classifySlot(slot({ active: false }), undefined), { status: 'warn', message: /inactive.*fill the primary's disk/ });
  t.match(classifySlot(slot({ active: false, wal_status: null, restart_lsn: null, retained: null }), GB), {
    status: 'warn',
    message: /has reserved no WAL yet/,
  });
});

t.test('an unreachable primary is a failure, not a crash', async (t) => {
  const [r] = await checkPrimary('host=/nonexistent/socket user=postgres password=x', undefined);
  t.match(r, { name: 'primary', status: 'fail', message: /cannot query the primary \(host=\/nonexistent\/socket user=postgres password=\*\*\*\): .*ENOENT/ });
});

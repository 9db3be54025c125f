import t from 'tap';
import { writeFileSync } from 'node:fs';
import { readSetup } from '../../lib/check/setup.js';
import { checkRecoveryEndCommand, checkTriggerAbsent, checkTriggerDirectory } from '../../lib/check/trigger.js';
import { FACTS, fakeStandby } from '../harness/fake-datadir.js';

const standby = async (conf: string, opts: { trigger?: string } = {}) => {
  const s = fakeStandby({ conf });
  return { s, setup: await readSetup(s.data, { archive: undefined, trigger: opts.trigger, mode: 'auto' }) };
};
const rc = (trigger: string) => `restore_command = 'walwait %f %p --archive ../archive --trigger ${trigger}'\n`;

t.test('trigger directory', async (t) => {
  t.match(checkTriggerDirectory((await standby("restore_command = 'walwait %f %p -a /a'\n")).setup), {
    status: 'warn',
    message: /no trigger file is configured/,
    fix: /--trigger/,
  });
  t.match(checkTriggerDirectory((await standby(rc('/nonexistent/dir/trig'))).setup), {
    status: 'fail',
    message: /\/nonexistent\/dir is not writable by this user \(ENOENT\)/,
  });
  const { s, setup } = await standby(rc('../trigger'));
  t.equal(setup.trigger?.value, s.trigger);
  t.match(checkTriggerDirectory(setup), { status: 'pass', message: `${s.root} is writable (trigger ${s.trigger}, from restore_command)` });
  const fromOptions = await standby("restore_command = 'walwait %f %p -a /a'\n", { trigger: '/tmp/from-options.trigger' });
  t.match(checkTriggerDirectory(fromOptions.setup), { status: 'pass', message: /from walwait.json, WALWAIT_\* or flags/ });
});

t.test('no trigger lies in wait', async (t) => {
  const none = await standby("restore_command = 'walwait %f %p -a /a'\n");
  t.equal(await checkTriggerAbsent(none.setup), undefined, 'no trigger configured: no line here, the trigger directory check warns of it');
  const { s, setup } = await standby(rc('../trigger'));
  t.match(await checkTriggerAbsent(setup), { status: 'pass', message: /no trigger at/ });
  writeFileSync(s.trigger, '');
  t.match(await checkTriggerAbsent(setup), { status: 'fail', message: /a smart trigger is at .*PROMOTES/, fix: /walwait promote --clear --trigger/ });
  writeFileSync(s.trigger, 'fast\n');
  t.match(await checkTriggerAbsent(setup), { status: 'fail', message: /a fast trigger/ });
  writeFileSync(s.trigger, `smart\nsystem_identifier=${FACTS.systemId}\ntimeline=1\n`);
  t.match(await checkTriggerAbsent(setup), { status: 'fail' }, 'guarded for this cluster and timeline: live');
  writeFileSync(s.trigger, 'smart\nsystem_identifier=12345\ntimeline=1\n');
  t.match(await checkTriggerAbsent(setup), {
    status: 'warn',
    message: /stale trigger .* system identifier 12345/,
    fix: `walwait promote --clear --trigger ${s.trigger}`,
  });
});

t.test('recovery_end_command clears the trigger', async (t) => {
  const check = async (end: string | undefined, trigger = '/var/lib/pg/walwait.trigger', opts: { trigger?: string } = {}) => {
    const conf = `restore_command = 'walwait %f %p -a /a${opts.trigger ? '' : ` --trigger ${trigger}`}'\n${end === undefined ? '' : `recovery_end_command = '${end}'\n`}`;
    return checkRecoveryEndCommand((await standby(conf, opts)).setup);
  };
  t.match(await check(undefined), {
    status: 'warn',
    message: /not set/,
    fix: "recovery_end_command = 'walwait promote --clear --trigger /var/lib/pg/walwait.trigger'",
  });
  t.match(await check('walwait promote --clear --trigger /var/lib/pg/walwait.trigger'), { status: 'pass' });
  t.match(await check('/opt/bin/walwait promote --clear -t /var/lib/pg/walwait.trigger'), { status: 'pass' });
  t.match(await check('walwait promote --clear'), { status: 'warn', message: /has no --trigger.*only in restore_command/ });
  t.match(
    await check('walwait promote --clear', '', { trigger: '/t/walwait.trigger' }),
    { status: 'pass' },
    'the trigger from walwait.json: promote --clear finds it too',
  );
  t.match(await check('walwait promote --clear --trigger /other/trigger'), { status: 'warn', message: /clears \/other\/trigger, not the trigger/ });
  t.match(await check('rm -f /var/lib/pg/walwait.trigger'), { status: 'pass', message: /removes the trigger/ });
  t.match(await check('echo done'), { status: 'warn', message: /does not remove the trigger/ });
  const none = await standby(`restore_command = 'walwait %f %p -a /a'\n`);
  t.match(checkRecoveryEndCommand(none.setup), { status: 'pass', message: /no trigger configured/ });
});

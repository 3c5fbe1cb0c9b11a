import t from 'tap';
import { parseMountInfo } from '../../../src/mount/mountinfo.js';

t.test('parses mount point, type and source, unescaping octal', async (t) => {
  const text = [
    '22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw',
    '99 22 0:50 / /tmp/with\\040space rw,nosuid,nodev,relatime - fuse.fluid-s3 fluid-s3-fuse rw,user_id=0,group_id=0',
  ].join('\n');
  const m = parseMountInfo(text);
  t.equal(m.length, 2);
  t.same(m[1], { mountPoint: '/tmp/with space', fsType: 'fuse.fluid-s3', source: 'fluid-s3-fuse' });
});

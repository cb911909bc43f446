// Names derived from a test's title, so task queues, workflow ids and databases never collide.
import { createHash } from 'node:crypto';

/** A short readable slug of the title plus a hash of it, e.g. `when-10-workflows-write-t-1a2b3c4d`. */
export function slugOf(title: string): string {
  const hash = createHash('sha1').update(title).digest('hex').slice(0, 8);
  return `${title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 24)}-${hash}`;
}

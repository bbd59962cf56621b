import { describe, expect, it } from 'vitest';
import { columnTitle, renderList, tabwriter } from './list-format.js';

const rows = [
  { Names: 'web', State: 'running', Status: 'Up 3 minutes', RestartCount: 0 },
  { Names: 'flaky-worker', State: 'restarting', Status: 'Restarting (1) 2 seconds ago', RestartCount: 7 },
];
const headers = { Names: 'NAMES', State: 'STATE', Status: 'STATUS' };

describe('list --format (ps, images)', () => {
  it('a template: one line per row, Go\'s printing, \\t and \\n as docker reads them', () => {
    expect(renderList('{{.Names}} {{.State}} {{.Status}} {{.RestartCount}}', rows, headers)).toBe('web running Up 3 minutes 0\nflaky-worker restarting Restarting (1) 2 seconds ago 7\n');
    expect(renderList('{{.Names}}\\t{{.RestartCount}}', rows, headers)).toBe('web\t0\nflaky-worker\t7\n');
    expect(renderList('{{json .Names}}', [], headers)).toBe('');
  });

  it('table: the column titles (docker\'s, else the field\'s words), cells aligned as docker\'s tabwriter', () => {
    expect(renderList('table {{.Names}}\\t{{.State}}\\t{{.RestartCount}}', rows, headers)).toBe(
      ['NAMES          STATE        RESTART COUNT', 'web            running      0', 'flaky-worker   restarting   7', ''].join('\n'),
    );
    expect(renderList('table {{.Names}}', [], headers)).toBe('NAMES\n');
    expect(columnTitle('CreatedSince')).toBe('CREATED SINCE');
    // At least 10 wide, 3 spaces of padding; the last cell is not padded.
    expect(tabwriter(['a\tb\tc', 'dd\te'])).toBe('a         b         c\ndd        e\n');
  });

  it('a bad template is one `template: …` error', () => {
    expect(() => renderList('{{.Names}}{{end}}', rows, headers)).toThrow(/^template: unexpected \{\{end\}\}$/);
    expect(() => renderList('table {{nosuch .Names}}', rows, headers)).toThrow(/^template: function "nosuch" not defined$/);
  });
});

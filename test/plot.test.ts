// The SVG line-plot helper: round ticks, escaping, well-formed output for edge cases.
import { linePlotSvg, niceTicks } from '../lib/util/plot';
import { checkWellFormedXml } from './xml-check';

describe('linePlotSvg', () => {
  test('nice ticks', () => {
    expect(niceTicks(0, 100, 5)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(1.83, 6.02, 5)).toEqual([2, 3, 4, 5, 6]);
    expect(niceTicks(3, 3, 4).length).toBeGreaterThan(1);
    expect(niceTicks(NaN, 1)).toEqual([]);
  });

  test('well-formed XML with axes, ticks and a legend; names escaped; empty and degenerate series', () => {
    const svg = linePlotSvg(
      [
        { name: 'train <loss> & "x"', points: [[1, 5], [2, 4], [3, NaN], [4, 3]] },
        { name: 'eval', points: [[0, 5.5], [4, 3.2]] },
        { name: 'none', points: [] },
      ],
      { title: 'a & b', xLabel: 'step', yLabel: 'loss' },
    );
    checkWellFormedXml(svg);
    expect(svg).toContain('train &lt;loss&gt; &amp; &quot;x&quot;');
    expect(svg.match(/<path /g)!.length).toBe(2);
    expect(svg).toMatch(/>step</);
    checkWellFormedXml(linePlotSvg([]));
    checkWellFormedXml(linePlotSvg([{ name: 'one', points: [[1, 1]] }], { logY: true }));
    expect(() => checkWellFormedXml('<svg><g></svg>')).toThrow(/unexpected <\/svg>/);
    expect(() => checkWellFormedXml('<svg a="1" a="2"/>')).toThrow(/duplicate attribute/);
  });
});

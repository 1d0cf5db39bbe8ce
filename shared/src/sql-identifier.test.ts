import { sqlIdentifier, sqlQualifiedName } from './sql-identifier';

describe('sqlIdentifier', () => {
  it.each([
    ['stock', '"stock"'],
    ['Stock', '"Stock"'],
    ['x" from public;alter role app superuser;--', '"x"" from public;alter role app superuser;--"'],
    ['a""b', '"a""""b"'],
  ])('quotes %j as %s', (name, quoted) => {
    expect(sqlIdentifier(name)).toBe(quoted);
  });

  it('quotes schema and table separately, so a dot inside a name stays in the name', () => {
    expect(sqlQualifiedName('inv.entory', 'st"ock')).toBe('"inv.entory"."st""ock"');
  });
});

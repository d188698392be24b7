{{ config(materialized='view', tags=['per_year']) }}
-- Which schools hold the county back (spec §5): school part i's share of one CV,
-- (P_i/P)(x_i - X)^2 / sum_j (P_j/P)(x_j - X)^2, over the parts in the official CV (as submitted).
-- A view over school_indicators and county_indicator_cv (benchmarks/README.md, "Per-school marts: tables or views"):
-- as a table it was the largest write of a per-year build (one row per part and indicator, ~3.4 M rows a year
-- nationally), and analysts ask for one county at a time, which DuckDB answers from the two tables in milliseconds
-- (the filter on the county reaches both; the window is per county indicator).

with v as (
    select s.*, c.county_value, c.students as county_students
    from {{ ref('school_indicators') }} s
    join {{ ref('county_indicator_cv') }} c using (county_code, year, level, method, indicator)
    where s.value is not null
),

terms as (
    select *, students / county_students * power(value - county_value, 2) as term
    from v
)

select
    cast(county_code as varchar) as county_code,
    cast(year as integer) as year,
    cast(level as varchar) as level,
    cast(method as varchar) as method,
    cast(indicator as varchar) as indicator,
    cast(school_code as varchar) as school_code,
    cast(students as double) as students,
    cast(value as double) as value,
    cast(county_value as double) as county_value,
    -- exact_sum (the same double whatever the row order); total and rank over one ordered window, one sort
    cast(term / nullif({{ exact_sum('term', over='cv') }}, 0) as double) as share,
    cast(row_number() over cv as integer) as share_rank
from terms
window cv as (partition by county_code, year, level, method, indicator order by term desc, school_code
              rows between unbounded preceding and unbounded following)

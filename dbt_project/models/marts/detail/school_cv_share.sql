{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- Which schools hold the county back (spec §5): school part i's share of one CV,
-- (P_i/P)(x_i - X)^2 / sum_j (P_j/P)(x_j - X)^2, over the parts in the official CV (as submitted).

with v as (
    select s.*, c.county_value, c.students as county_students
    from {{ ref('school_indicators') }} s
    join {{ ref('county_indicator_cv') }} c using (county_code, year, level, method, indicator)
    where s.value is not null and {{ year_filter('s.year') }}
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
    -- exact_sum, so a year rebuilt alone gives the same doubles as a full build; one window for total and rank
    cast(term / nullif({{ exact_sum('term', over='cv') }}, 0) as double) as share,
    cast(row_number() over (cv order by term desc, school_code) as integer) as share_rank
from terms
window cv as (partition by county_code, year, level, method, indicator)

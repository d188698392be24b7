{{ config(materialized='table', tags=['trend']) }}
-- The county dimension: one row per county code ever seen, with its current name (as of the latest year), the
-- names it has had, province and prefecture (codes; names from seed regions where it has them) and the years present.

with y as (
    select * from {{ ref('dim_county_year') }}
),

names as (
    -- each distinct name with the years it was in use (as of each year)
    select county_code, county_name, min(year) as first_year, max(year) as last_year
    from y
    where county_name is not null
    group by county_code, county_name
),

agg as (
    select
        county_code,
        arg_max(county_name, year) as county_name,
        min(year) as first_year,
        max(year) as last_year,
        count(*) as years_present,
        string_agg(cast(year as varchar), ',' order by year) as years,
        count(*) filter (where in_census) as census_years,
        count(*) filter (where in_returns) as return_years
    from y
    group by county_code
),

name_history as (
    select county_code,
           string_agg(county_name || ' ' || first_year || '–' || last_year, '; ' order by first_year, county_name) as names,
           count(*) as name_count
    from names
    group by county_code
)

select
    cast(a.county_code as varchar) as county_code,
    cast(a.county_name as varchar) as county_name,
    cast(left(a.county_code, 2) as varchar) as province_code,
    cast(p.name_zh as varchar) as province_name,
    cast(p.name_en as varchar) as province_name_en,
    cast(left(a.county_code, 4) as varchar) as prefecture_code,
    cast(f.name_zh as varchar) as prefecture_name,
    cast(f.name_en as varchar) as prefecture_name_en,
    cast(a.first_year as integer) as first_year,
    cast(a.last_year as integer) as last_year,
    cast(a.years_present as integer) as years_present,
    cast(a.years as varchar) as years,
    cast(a.census_years as integer) as census_years,
    cast(a.return_years as integer) as return_years,
    cast(coalesce(n.name_count, 0) as integer) as name_count,
    cast(n.names as varchar) as names
from agg a
left join name_history n using (county_code)
left join {{ ref('regions') }} p on p.level = 'province' and p.code = left(a.county_code, 2)
left join {{ ref('regions') }} f on f.level = 'prefecture' and f.code = left(a.county_code, 4)
